import { Rng } from '../../../core/rng';
import { ImagePool } from '../../../train/model/imagePool';

const H = 2;
const W = 3;
const C = 1;
const PER = H * W * C;

/** A batch of n images; image i is filled with the value ids[i] (so images are identifiable). */
function batchOf(ids: number[]): Float32Array {
  const out = new Float32Array(ids.length * PER);
  ids.forEach((id, i) => out.fill(id, i * PER, (i + 1) * PER));
  return out;
}

function idsOf(data: Float32Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < data.length; i += PER) {
    const v = data[i];
    expect(Array.from(data.subarray(i, i + PER)).every((x) => x === v)).toBe(true);
    ids.push(v);
  }
  return ids;
}

function storedIds(pool: ImagePool): number[] {
  return pool.contents().images.map((t) => t.data[0]);
}

describe('ImagePool', () => {
  it('passes batches through when pool_size is 0', () => {
    const pool = new ImagePool(0, new Rng(1));
    const b = batchOf([1, 2]);
    expect(pool.query(b, [2, H, W, C])).toBe(b);
    expect(pool.size).toBe(0);
  });

  it('stores and returns new images until full, image by image within a batch', () => {
    const rng = new Rng(2);
    const pool = new ImagePool(3, rng);
    expect(idsOf(pool.query(batchOf([1, 2]), [2, H, W, C]))).toEqual([1, 2]);
    const before = rng.state();
    // The third image still fits (returned as is, no draw); the fourth meets a full pool.
    const out = idsOf(pool.query(batchOf([3, 4]), [2, H, W, C]));
    expect(out[0]).toBe(3);
    expect(storedIds(pool)).toHaveLength(3);
    expect(rng.state()).not.toEqual(before);
    if (out[1] === 4) expect(storedIds(pool)).toEqual([1, 2, 3]);
    else {
      expect([1, 2, 3]).toContain(out[1]);
      expect(storedIds(pool).sort()).toEqual([1, 2, 3, 4].filter((x) => x !== out[1]).sort());
    }
  });

  it('once full, returns a random stored image half of the time and swaps the new one in', () => {
    const size = 5;
    const pool = new ImagePool(size, new Rng(3));
    pool.query(batchOf([0, 1, 2, 3, 4]), [size, H, W, C]);
    let old = 0;
    const slotHits = new Array(size).fill(0);
    const n = 4000;
    for (let id = 100; id < 100 + n; id++) {
      const stored = storedIds(pool);
      const [got] = idsOf(pool.query(batchOf([id]), [1, H, W, C]));
      const after = storedIds(pool);
      if (got === id) {
        expect(after).toEqual(stored); // new image returned, pool unchanged
      } else {
        old++;
        const slot = stored.indexOf(got);
        expect(slot).toBeGreaterThanOrEqual(0); // a previously stored image
        slotHits[slot]++;
        expect(after[slot]).toBe(id); // replaced in the same slot
        expect(after.filter((_, i) => i !== slot)).toEqual(stored.filter((_, i) => i !== slot));
      }
    }
    // Binomial(4000, 0.5): sd = 31.6; 4 sd
    expect(Math.abs(old - n / 2)).toBeLessThan(127);
    // Slots uniformly chosen: chi-square with 4 dof, 99.9th percentile 18.5
    const chi = slotHits.reduce((s, c) => s + (c - old / size) ** 2 / (old / size), 0);
    expect(chi).toBeLessThan(18.5);
  });

  it('round-trips its contents: a restored pool with the same Rng state answers identically', () => {
    const rng = new Rng(4);
    const a = new ImagePool(4, rng);
    a.query(batchOf([1, 2, 3, 4, 5, 6]), [6, H, W, C]);
    const saved = a.contents();
    expect(saved.images.every((t) => t.shape.join() === [1, H, W, C].join())).toBe(true);
    const rngCopy = Rng.fromState(rng.state());
    const b = new ImagePool(4, rngCopy, saved);
    // Mutating the snapshot must not reach into either pool.
    saved.images[0].data.fill(-9);
    for (let id = 10; id < 40; id++) {
      expect(idsOf(b.query(batchOf([id, id + 100]), [2, H, W, C]))).toEqual(
        idsOf(a.query(batchOf([id, id + 100]), [2, H, W, C])),
      );
    }
    expect(storedIds(b)).toEqual(storedIds(a));
  });

  it('works unbound: bind(rng) gives the model interface, fromState restores a checkpoint', () => {
    const rng = new Rng(5);
    const pool = new ImagePool(2);
    expect(() => pool.query(batchOf([1, 2, 3]), [3, H, W, C])).toThrow(/no random source/);
    const bound = pool.bind(rng);
    bound.query(batchOf([1, 2, 3]), [3, H, W, C]);
    expect(pool.size).toBe(2);
    const saved = pool.contents().images;
    const rngCopy = Rng.fromState(rng.state());
    const restored = ImagePool.fromState(2, saved, rngCopy);
    for (let id = 10; id < 30; id++) {
      expect(idsOf(restored.query(batchOf([id]), [1, H, W, C]))).toEqual(
        idsOf(bound.query(batchOf([id]), [1, H, W, C])),
      );
    }
    expect(rngCopy.state()).toEqual(rng.state());
  });

  it('validates sizes and restored contents', () => {
    expect(() => new ImagePool(-1, new Rng(1))).toThrow(/non-negative integer/);
    const pool = new ImagePool(2, new Rng(1));
    expect(() => pool.query(new Float32Array(5), [1, H, W, C])).toThrow(/5 values for shape/);
    const img = { shape: [1, H, W, C], data: new Float32Array(PER) };
    expect(() => new ImagePool(1, new Rng(1), { images: [img, img] })).toThrow(/exceed pool_size 1/);
    expect(() => new ImagePool(2, new Rng(1), { images: [{ shape: [1, 2], data: new Float32Array(2) }] })).toThrow(
      /stored image has shape/,
    );
  });

  it('returns stored images of another size only through queryWithShape', () => {
    const small = new Float32Array(4).fill(7);
    const pool = new ImagePool(
      1,
      { next: () => 0.9, int: () => 0 },
      { images: [{ shape: [1, 2, 2, 1], data: small }] },
    );
    expect(() => pool.query(batchOf([1]), [1, H, W, C])).toThrow(/use queryWithShape/);
    const pool2 = new ImagePool(
      1,
      { next: () => 0.9, int: () => 0 },
      { images: [{ shape: [1, 2, 2, 1], data: small }] },
    );
    const r = pool2.queryWithShape(batchOf([1]), [1, H, W, C]);
    expect(r.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(r.data)).toEqual([7, 7, 7, 7]);
  });
});
