import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Prefetcher } from '../../../train/data/prefetcher';
import { domainChannels, UnalignedDataset, type Batch, type DataOptions } from '../../../train/data/unalignedDataset';

let root: string;

/** Solid-grey images: a flat image survives resize, crop and flip unchanged, so its level names it. */
async function solid(file: string, level: number, width = 16, height = 10): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: { r: level, g: level, b: level } } })
    .png()
    .toFile(file);
}

/** Noise images: crops and flips of these differ, so equal tensors mean equal augmentation. */
async function noise(file: string, seed: number, width = 16, height = 10): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = Buffer.from(
    Array.from({ length: width * height * 3 }, (_, i) => (i * 97 + seed * 31 + ((i * i) % 13)) % 256),
  );
  await sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

const A_LEVELS = [10, 20, 30, 40, 50];
const B_LEVELS = [200, 210, 220];

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-dataset-'));
  await Promise.all(A_LEVELS.map((l, i) => solid(path.join(root, 'trainA', `a${i}.png`), l)));
  await Promise.all(B_LEVELS.map((l, i) => solid(path.join(root, 'trainB', `sub`, `b${i}.png`), l)));
  await Promise.all([0, 1, 2].map((i) => noise(path.join(root, 'textured', 'trainA', `${i}.png`), i)));
  await Promise.all([0, 1].map((i) => noise(path.join(root, 'textured', 'trainB', `${i}.png`), 10 + i)));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const opts: DataOptions = {
  preprocess: 'resize_and_crop',
  load_size: 12,
  crop_size: 8,
  no_flip: false,
  serial_batches: false,
  batch_size: 2,
  input_nc: 3,
  output_nc: 3,
  direction: 'AtoB',
  max_dataset_size: Infinity,
};

/** Grey level of each image of a batch tensor (checks that the image is flat). */
function levels(data: Float32Array, shape: number[]): number[] {
  const per = shape[1] * shape[2] * shape[3];
  const out: number[] = [];
  for (let i = 0; i < shape[0]; i++) {
    const img = data.subarray(i * per, (i + 1) * per);
    expect(img.every((v) => v === img[0])).toBe(true);
    out.push(Math.round((img[0] + 1) * 127.5));
  }
  return out;
}

async function epochBatches(ds: UnalignedDataset, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let start = 0; start < ds.length; start += ds.batchSize) out.push((await ds.loadBatch(epoch, start))!);
  return out;
}

describe('UnalignedDataset', () => {
  it('has max(|A|, |B|) items in batches of batch_size, the last one partial', async () => {
    const ds = await UnalignedDataset.open(root, opts, { seed: 1 });
    expect([ds.length, ds.batchesPerEpoch]).toEqual([5, 3]);
    const batches = await epochBatches(ds, 1);
    expect(batches.map((b) => b.shapeA)).toEqual([
      [2, 8, 8, 3],
      [2, 8, 8, 3],
      [1, 8, 8, 3],
    ]);
    expect(batches.map((b) => b.next)).toEqual([
      { epoch: 1, index: 2 },
      { epoch: 1, index: 4 },
      { epoch: 2, index: 0 },
    ]);
    for (const b of batches) expect(b.A.every((v) => v >= -1 && v <= 1)).toBe(true);
  });

  it('visits every A once per epoch in a new random order, with random B partners', async () => {
    const ds = await UnalignedDataset.open(root, opts, { seed: 2 });
    const orders = new Set<string>();
    const bSeen = new Set<number>();
    for (let epoch = 1; epoch <= 8; epoch++) {
      const batches = await epochBatches(ds, epoch);
      const a = batches.flatMap((b) => levels(b.A, b.shapeA));
      expect([...a].sort((x, y) => x - y)).toEqual(A_LEVELS);
      orders.add(a.join());
      for (const b of batches) {
        levels(b.B, b.shapeB).forEach((l) => bSeen.add(l));
        // Paths and pixels agree.
        expect(b.aPaths.map((p) => A_LEVELS[Number(/a(\d)\.png$/.exec(p)![1])])).toEqual(levels(b.A, b.shapeA));
      }
    }
    expect(orders.size).toBeGreaterThan(4);
    expect([...bSeen].sort()).toEqual(B_LEVELS);
  });

  it('pairs A[i] with B[i % |B|] in order under serial_batches', async () => {
    const ds = await UnalignedDataset.open(root, { ...opts, serial_batches: true }, { seed: 3 });
    for (const epoch of [1, 2]) {
      const batches = await epochBatches(ds, epoch);
      expect(batches.flatMap((b) => levels(b.A, b.shapeA))).toEqual(A_LEVELS);
      expect(batches.flatMap((b) => levels(b.B, b.shapeB))).toEqual([200, 210, 220, 200, 210]);
    }
  });

  it('is a pure function of (seed, epoch, position)', async () => {
    const textured = path.join(root, 'textured');
    const o: DataOptions = { ...opts, batch_size: 1 };
    const a = await UnalignedDataset.open(textured, o, { seed: 4 });
    const b = await UnalignedDataset.open(textured, o, { seed: 4 });
    const c = await UnalignedDataset.open(textured, o, { seed: 5 });
    const [ea, eb, ec] = await Promise.all([epochBatches(a, 3), epochBatches(b, 3), epochBatches(c, 3)]);
    ea.forEach((x, i) => {
      expect(eb[i].aPaths).toEqual(x.aPaths);
      expect(eb[i].A).toEqual(x.A);
      expect(eb[i].B).toEqual(x.B);
    });
    // Another seed: other augmentations of the same files (compare per A file).
    const byFile = (bs: Batch[]) => new Map(bs.map((x) => [x.aPaths[0], x.A]));
    const ma = byFile(ea);
    const mc = byFile(ec);
    const same = [...ma.keys()].filter((k) => Buffer.from(ma.get(k)!.buffer).equals(Buffer.from(mc.get(k)!.buffer)));
    expect(same.length).toBeLessThan(ma.size);
    // Loading again, out of order and in another epoch first, gives identical tensors.
    await a.loadBatch(7, 0);
    const again = await a.loadBatch(3, 1);
    expect(again!.A).toEqual(ea[1].A);
    expect(again!.B).toEqual(ea[1].B);
    // Other epochs augment differently.
    const other = await epochBatches(a, 4);
    expect(other.map((x) => Array.from(x.A.subarray(0, 8)).join())).not.toEqual(
      ea.map((x) => Array.from(x.A.subarray(0, 8)).join()),
    );
  });

  it('gives the grayscale domain one channel; BtoA swaps which side is input_nc', async () => {
    expect(domainChannels({ direction: 'AtoB', input_nc: 1, output_nc: 3 })).toEqual({ A: 1, B: 3 });
    expect(domainChannels({ direction: 'BtoA', input_nc: 1, output_nc: 3 })).toEqual({ A: 3, B: 1 });
    const ds = await UnalignedDataset.open(root, { ...opts, input_nc: 1 }, { seed: 6 });
    const batch = (await ds.loadBatch(1, 0))!;
    expect(batch.shapeA).toEqual([2, 8, 8, 1]);
    expect(batch.shapeB).toEqual([2, 8, 8, 3]);
  });

  it('limits each domain to max_dataset_size', async () => {
    const ds = await UnalignedDataset.open(root, { ...opts, max_dataset_size: 2 }, { seed: 7 });
    expect([ds.aPaths.length, ds.bPaths.length, ds.length]).toEqual([2, 2, 2]);
  });
});

describe('resuming through the prefetcher', () => {
  it('reproduces the batches of an uninterrupted run from a mid-epoch position', async () => {
    const collect = async (p: Prefetcher) => {
      const out: Batch[] = [];
      for await (const b of p) out.push(b);
      return out;
    };
    const textured = path.join(root, 'textured'); // 3 A, 2 B: batches of 2 and 1 per epoch
    const ds = await UnalignedDataset.open(textured, opts, { seed: 8 });
    const full = await collect(new Prefetcher(ds, { from: { epoch: 1, index: 0 }, lastEpoch: 3, depth: 3 }));
    expect(full).toHaveLength(6);
    const cut = 3; // stop after 3 batches: epoch 2, after its first batch
    const resumeAt = full[cut - 1].next;
    expect(resumeAt).toEqual({ epoch: 2, index: 2 });
    const fresh = await UnalignedDataset.open(textured, opts, { seed: 8 });
    const rest = await collect(new Prefetcher(fresh, { from: resumeAt, lastEpoch: 3, depth: 2 }));
    expect(rest.map((b) => [b.epoch, b.start])).toEqual(full.slice(cut).map((b) => [b.epoch, b.start]));
    rest.forEach((b, i) => {
      expect(b.A).toEqual(full[cut + i].A);
      expect(b.B).toEqual(full[cut + i].B);
      expect(b.bPaths).toEqual(full[cut + i].bPaths);
    });
  });
});
