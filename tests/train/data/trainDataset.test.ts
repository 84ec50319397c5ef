import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { parseTrainOptions, type TrainOptions } from '../../../train/trainOptions';
import { openTrainData, type FolderTrainBatch } from '../../../train/data/trainDataset';

let root: string;

async function noise(file: string, seed: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = Buffer.from(Array.from({ length: 16 * 12 * 3 }, (_, i) => (i * 89 + seed * 37 + ((i * i) % 11)) % 256));
  await sharp(data, { raw: { width: 16, height: 12, channels: 3 } })
    .png()
    .toFile(file);
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-train-'));
  await Promise.all([0, 1, 2, 3, 4].map((i) => noise(path.join(root, 'ds', 'trainA', `a${i}.png`), i)));
  await Promise.all([0, 1, 2].map((i) => noise(path.join(root, 'ds', 'trainB', `b${i}.png`), 10 + i)));
  fs.writeFileSync(path.join(root, 'ds', 'trainA', 'a2_broken.png'), 'not a png');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function options(extra: Record<string, unknown> = {}): TrainOptions {
  return parseTrainOptions({
    dataroot: path.join(root, 'ds'),
    load_size: 12,
    crop_size: 8,
    batch_size: 2,
    n_epochs: 2,
    n_epochs_decay: 1,
    num_threads: 2,
    ...extra,
  });
}

async function take(it: AsyncIterable<FolderTrainBatch>): Promise<FolderTrainBatch[]> {
  const out: FolderTrainBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('openTrainData', () => {
  it('fails in one line before any work when a folder is missing', async () => {
    await expect(openTrainData(options({ dataroot: path.join(root, 'nope') }), () => {})).rejects.toThrow(
      /^--dataroot '.*nope' is not a folder$/,
    );
  });

  it('serves each epoch in slots 0..itersPerEpoch-1 and resumes mid-epoch identically', async () => {
    const logs: string[] = [];
    const data = await openTrainData(options(), (m) => logs.push(m));
    expect(data.itersPerEpoch).toBe(3); // 6 A files (one unusable), 3 B: ceil(6 / 2)
    expect(logs[0]).toMatch(/6 images in trainA, 3 in trainB; 3 iterations of batch 2 per epoch/);
    const epochs: FolderTrainBatch[][] = [];
    for (let e = 1; e <= 3; e++) epochs.push(await take(data.epoch(11, e, 0)));
    for (const [i, batches] of epochs.entries()) {
      expect(batches.every((b) => b.epoch === i + 1)).toBe(true);
      expect(batches.map((b) => b.iter)).toEqual([0, 1, 2]);
      // Five usable A images per epoch, the broken one skipped.
      expect(batches.reduce((n, b) => n + b.shapeA[0], 0)).toBe(5);
      expect(batches.reduce((n, b) => n + b.skipped, 0)).toBe(1);
      for (const b of batches) expect(b.waitMs).toBeGreaterThanOrEqual(0);
    }
    expect(data.skipped).toBe(1);
    expect(logs.filter((l) => l.startsWith('warning: skipping unusable image'))).toHaveLength(1);
    // Past the last epoch there is nothing more.
    expect(await take(data.epoch(11, 4, 0))).toEqual([]);

    // A new process resuming at epoch 2 after slot 0 sees what the uninterrupted run saw.
    const resumed = await openTrainData(options(), () => {});
    const tail = await take(resumed.epoch(11, 2, 1));
    expect(tail.map((b) => b.iter)).toEqual([1, 2]);
    tail.forEach((b, i) => {
      expect(b.aPaths).toEqual(epochs[1][i + 1].aPaths);
      expect(b.A).toEqual(epochs[1][i + 1].A);
      expect(b.B).toEqual(epochs[1][i + 1].B);
    });
    expect(await take(resumed.epoch(11, 2, 3))).toEqual([]);
  });

  it('a consumer that stops early (max_iters) can pick up where it stopped', async () => {
    const data = await openTrainData(options(), () => {});
    const first: FolderTrainBatch[] = [];
    for await (const b of data.epoch(5, 1, 0)) {
      first.push(b);
      break;
    }
    const rest = await take(data.epoch(5, 1, first[0].iter + 1));
    const whole = await take((await openTrainData(options(), () => {})).epoch(5, 1, 0));
    expect([...first, ...rest].map((b) => b.aPaths.join())).toEqual(whole.map((b) => b.aPaths.join()));
  });

  it('with BtoA hands trainB images to the model as A', async () => {
    const data = await openTrainData(
      options({ direction: 'BtoA', output_nc: 1, input_nc: 3, lambda_identity: 0 }),
      () => {},
    );
    const [b] = await take(data.epoch(1, 1, 0));
    expect(b.aPaths.every((p) => p.includes(`${path.sep}trainB${path.sep}`))).toBe(true);
    expect(b.bPaths.every((p) => p.includes(`${path.sep}trainA${path.sep}`))).toBe(true);
    expect(b.shapeA[3]).toBe(3); // the model's input side has input_nc channels
    expect(b.shapeB[3]).toBe(1);
  });
});
