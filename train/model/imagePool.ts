/**
 * The official ImagePool (Shrivastava et al.): the discriminators see a mix of current and earlier
 * generated images. Per image of a batch: while the pool has room the image is stored and returned;
 * once full, with probability 1/2 a random stored image is returned and replaced by the new one,
 * otherwise the new image is returned. pool_size 0 passes batches through.
 *
 * Framework-neutral (Float32Array NHWC + shape) so the trainer wraps its own tensors, and
 * checkpointable: `contents()` / `fromState` round-trip the stored images, and the randomness comes
 * from the trainer's Rng (passed in, see `bind`), whose state the checkpoint also keeps.
 */
import type { NamedTensor } from '../../core/arch/stateDict';

export interface PoolRandom {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

export interface PoolContents {
  /** Stored images, each [1, H, W, C]. */
  images: NamedTensor[];
}

type Shape4 = [number, number, number, number];

export class ImagePool {
  private readonly images: NamedTensor[] = [];

  /** `rng` is the default randomness for `query`; `bind` pairs the pool with another. */
  constructor(
    readonly poolSize: number,
    private readonly rng?: PoolRandom,
    contents?: PoolContents,
  ) {
    if (!Number.isInteger(poolSize) || poolSize < 0)
      throw new Error(`pool_size must be a non-negative integer (got ${poolSize})`);
    if (contents) {
      if (contents.images.length > poolSize) {
        throw new Error(`image pool: ${contents.images.length} stored images exceed pool_size ${poolSize}`);
      }
      for (const img of contents.images) {
        if (img.shape.length !== 4 || img.shape[0] !== 1 || img.data.length !== img.shape.reduce((a, b) => a * b, 1)) {
          throw new Error(`image pool: stored image has shape [${img.shape}] and ${img.data.length} values`);
        }
        this.images.push({ shape: [...img.shape], data: img.data.slice() });
      }
    }
  }

  /** A pool restored from checkpointed images (`contents().images`). */
  static fromState(poolSize: number, images: NamedTensor[], rng?: PoolRandom): ImagePool {
    return new ImagePool(poolSize, rng, { images });
  }

  /** The pool as the model's `query(batch, shape)` interface, drawing from `rng`. */
  bind(rng: PoolRandom): { query(batch: Float32Array, shape: Shape4): Float32Array } {
    return { query: (batch, shape) => this.query(batch, shape, rng) };
  }

  /** Number of stored images. */
  get size(): number {
    return this.images.length;
  }

  /** A copy of the stored images, for checkpoints. */
  contents(): PoolContents {
    return { images: this.images.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) };
  }

  /**
   * The batch the discriminator should see, of the same shape as `batch` (NHWC). Throws if a stored
   * image of another size would be returned (only possible with variable-size preprocessing).
   */
  query(batch: Float32Array, shape: Shape4, rng?: PoolRandom): Float32Array {
    const r = this.queryWithShape(batch, shape, rng);
    if (r.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`image pool returned a [${r.shape}] batch for a [${shape}] query; use queryWithShape`);
    }
    return r.data;
  }

  /** As `query`, also for stored images whose size differs from the batch's (batch size 1). */
  queryWithShape(
    batch: Float32Array,
    shape: Shape4,
    rng: PoolRandom | undefined = this.rng,
  ): { data: Float32Array; shape: Shape4 } {
    const [n, h, w, c] = shape;
    const per = h * w * c;
    if (batch.length !== n * per) throw new Error(`image pool: ${batch.length} values for shape [${shape}]`);
    if (this.poolSize === 0) return { data: batch, shape };
    if (!rng) throw new Error('image pool: no random source (construct it with one or use bind(rng))');
    const out: NamedTensor[] = [];
    for (let i = 0; i < n; i++) {
      const image: NamedTensor = { shape: [1, h, w, c], data: batch.slice(i * per, (i + 1) * per) };
      if (this.images.length < this.poolSize) {
        this.images.push(image);
        out.push(image);
      } else if (rng.next() > 0.5) {
        const slot = rng.int(this.poolSize);
        out.push(this.images[slot]);
        this.images[slot] = image;
      } else {
        out.push(image);
      }
    }
    const first = out[0].shape;
    if (out.some((t) => t.shape.some((d, k) => d !== first[k]))) {
      throw new Error('image pool: images of different sizes in one batch; use a preprocess with crop');
    }
    const data = new Float32Array(out.length * out[0].data.length);
    out.forEach((t, i) => data.set(t.data, i * t.data.length));
    return { data, shape: [n, first[1], first[2], first[3]] };
  }
}
