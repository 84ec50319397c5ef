/**
 * The official UnalignedDataset and its DataLoader, made deterministic and resumable:
 *  - length = max(|A|, |B|); item i pairs A[i % |A|] with B[i % |B|] under serial_batches, else
 *    with a random B;
 *  - each epoch visits the items in a fresh random order (DataLoader shuffle = !serial_batches),
 *    batch_size at a time, the last batch possibly smaller (drop_last = false).
 * All randomness is derived from (seed, epoch, position in the epoch), so the batch at a position
 * is the same whenever and however often it is loaded: a run resumed at (epoch, index) sees the
 * batches the uninterrupted run would have seen, and decode timing cannot reorder anything.
 *
 * Unreadable files are skipped (one warning per file): their samples drop out of the batch.
 */
import type { TrainOptions } from '../trainOptions';
import { Rng } from '../../core/rng';
import { decodeRgb, UnusableImageError } from '../../core/image/decode';
import { listUnalignedFolders } from './imageFolder';
import { transformImage, type ImageTensor } from './transforms';

export type DataOptions = Pick<
  TrainOptions,
  | 'preprocess'
  | 'load_size'
  | 'crop_size'
  | 'no_flip'
  | 'serial_batches'
  | 'batch_size'
  | 'input_nc'
  | 'output_nc'
  | 'direction'
  | 'max_dataset_size'
>;

/** Where the data stream stands: `index` items of `epoch` are consumed. */
export interface DataPosition {
  epoch: number;
  index: number;
}

export interface Batch {
  /** float32 NHWC in [-1, 1]. */
  A: Float32Array;
  B: Float32Array;
  shapeA: [number, number, number, number];
  shapeB: [number, number, number, number];
  aPaths: string[];
  bPaths: string[];
  epoch: number;
  /** Position of the batch's first item in the epoch's order. */
  start: number;
  /** Items of this batch's slot that were skipped because a file was unusable. */
  skipped: number;
  /** Position after this batch (the next epoch's start after the last batch). */
  next: DataPosition;
}

/** What the prefetcher needs from a dataset (fakes in tests implement it too). */
export interface BatchSource {
  readonly length: number;
  readonly batchSize: number;
  /** The batch starting at `start` in `epoch`, or null when every sample in it was unusable. */
  loadBatch(epoch: number, start: number): Promise<Batch | null>;
}

// Stream ids for Rng.derive, so the epoch order and per-item draws never share numbers.
const STREAM_ORDER = 1;
const STREAM_ITEM = 2;

export function nextPosition(pos: DataPosition, count: number, length: number): DataPosition {
  const index = pos.index + count;
  return index >= length ? { epoch: pos.epoch + 1, index: 0 } : { epoch: pos.epoch, index };
}

/** Channels of domain A and B images: with BtoA the B images feed the generator (input_nc). */
export function domainChannels(o: Pick<DataOptions, 'direction' | 'input_nc' | 'output_nc'>): { A: 1 | 3; B: 1 | 3 } {
  const btoA = o.direction === 'BtoA';
  return { A: (btoA ? o.output_nc : o.input_nc) as 1 | 3, B: (btoA ? o.input_nc : o.output_nc) as 1 | 3 };
}

export class UnalignedDataset implements BatchSource {
  readonly length: number;
  readonly batchSize: number;
  readonly channels: { A: 1 | 3; B: 1 | 3 };
  private readonly bad = new Map<string, string>();
  private order?: { epoch: number; perm: Uint32Array };

  constructor(
    readonly aPaths: readonly string[],
    readonly bPaths: readonly string[],
    readonly opts: DataOptions,
    readonly seed: number,
    private readonly warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
  ) {
    if (aPaths.length === 0 || bPaths.length === 0) throw new Error('both domains need at least one image');
    this.length = Math.max(aPaths.length, bPaths.length);
    this.batchSize = opts.batch_size;
    this.channels = domainChannels(opts);
  }

  /** Lists `<dataroot>/<phase>A|B` (one-line error if either is missing or empty). */
  static async open(
    dataroot: string,
    opts: DataOptions,
    init: { seed: number; phase?: string; warn?: (message: string) => void },
  ): Promise<UnalignedDataset> {
    const { A, B } = await listUnalignedFolders(dataroot, init.phase ?? 'train', opts.max_dataset_size);
    return new UnalignedDataset(A, B, opts, init.seed, init.warn);
  }

  /** Batches per epoch, the last one possibly partial. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.length / this.batchSize);
  }

  /** Files skipped so far and why. */
  get skippedFiles(): ReadonlyMap<string, string> {
    return this.bad;
  }

  /** The epoch's visiting order of item indices. */
  epochOrder(epoch: number): Uint32Array {
    if (this.order?.epoch !== epoch) {
      const perm = this.opts.serial_batches
        ? Uint32Array.from({ length: this.length }, (_, i) => i)
        : Rng.derive(this.seed, STREAM_ORDER, epoch).permutation(this.length);
      this.order = { epoch, perm };
    }
    return this.order.perm;
  }

  /** Which files the item at `position` of `epoch` pairs, and the Rng for its augmentation. */
  itemPlan(epoch: number, position: number): { aPath: string; bPath: string; rng: Rng } {
    const index = this.epochOrder(epoch)[position];
    const rng = Rng.derive(this.seed, STREAM_ITEM, epoch, position);
    // Drawn even under serial_batches so both modes consume the stream alike.
    const randomB = rng.int(this.bPaths.length);
    const bIndex = this.opts.serial_batches ? index % this.bPaths.length : randomB;
    return { aPath: this.aPaths[index % this.aPaths.length], bPath: this.bPaths[bIndex], rng };
  }

  private async loadImage(file: string, nc: 1 | 3, rng: Rng): Promise<ImageTensor | null> {
    if (this.bad.has(file)) return null;
    try {
      return transformImage(await decodeRgb(file), this.opts, nc, rng, file);
    } catch (e) {
      if (!(e instanceof UnusableImageError)) throw e;
      if (!this.bad.has(file)) {
        this.bad.set(file, e.reason);
        this.warn(`skipping unusable image ${e.message}`);
      }
      return null;
    }
  }

  /** One sample, or null when A or B is unusable. */
  async loadSample(
    epoch: number,
    position: number,
  ): Promise<{ A: ImageTensor; B: ImageTensor; aPath: string; bPath: string } | null> {
    const { aPath, bPath, rng } = this.itemPlan(epoch, position);
    // A's draws come first, then B's, whatever finishes decoding first.
    const rngA = Rng.fromState(rng.state());
    rng.next();
    rng.next();
    rng.next();
    const [A, B] = await Promise.all([
      this.loadImage(aPath, this.channels.A, rngA),
      this.loadImage(bPath, this.channels.B, rng),
    ]);
    return A && B ? { A, B, aPath, bPath } : null;
  }

  async loadBatch(epoch: number, start: number): Promise<Batch | null> {
    if (!Number.isInteger(start) || start < 0 || start >= this.length) {
      throw new Error(`batch start ${start} is outside the epoch (0..${this.length - 1})`);
    }
    const count = Math.min(this.batchSize, this.length - start);
    const samples = await Promise.all(Array.from({ length: count }, (_, i) => this.loadSample(epoch, start + i)));
    const ok = samples.filter((s) => s !== null);
    if (ok.length === 0) return null;
    const stack = (pick: (s: (typeof ok)[number]) => ImageTensor): [Float32Array, [number, number, number, number]] => {
      const [h, w, c] = pick(ok[0]).shape;
      const out = new Float32Array(ok.length * h * w * c);
      ok.forEach((s, i) => {
        const t = pick(s);
        if (t.shape[0] !== h || t.shape[1] !== w || t.shape[2] !== c) {
          throw new Error(
            `images of one batch differ in size (${t.shape} vs ${[h, w, c]}); use a preprocess with crop`,
          );
        }
        out.set(t.data, i * h * w * c);
      });
      return [out, [ok.length, h, w, c]];
    };
    const [A, shapeA] = stack((s) => s.A);
    const [B, shapeB] = stack((s) => s.B);
    return {
      A,
      B,
      shapeA,
      shapeB,
      aPaths: ok.map((s) => s.aPath),
      bPaths: ok.map((s) => s.bPath),
      epoch,
      start,
      skipped: count - ok.length,
      next: nextPosition({ epoch, index: start }, count, this.length),
    };
  }
}
