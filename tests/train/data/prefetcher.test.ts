import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Prefetcher } from '../../../train/data/prefetcher';
import {
  nextPosition,
  UnalignedDataset,
  type Batch,
  type BatchSource,
  type DataOptions,
} from '../../../train/data/unalignedDataset';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A source whose batches take `delay(k)` ms to load and record when each load started. */
class FakeSource implements BatchSource {
  readonly started: { key: string; at: number }[] = [];
  constructor(
    readonly length: number,
    readonly batchSize: number,
    private readonly delay: (start: number, epoch: number) => number,
    private readonly fail?: (start: number) => boolean,
  ) {}
  async loadBatch(epoch: number, start: number): Promise<Batch | null> {
    this.started.push({ key: `${epoch}:${start}`, at: performance.now() });
    await sleep(this.delay(start, epoch));
    if (this.fail?.(start)) throw new Error(`disk on fire at ${start}`);
    const n = Math.min(this.batchSize, this.length - start);
    const A = new Float32Array(n).fill(start);
    return {
      A,
      B: A,
      shapeA: [n, 1, 1, 1],
      shapeB: [n, 1, 1, 1],
      aPaths: [],
      bPaths: [],
      epoch,
      start,
      skipped: 0,
      next: nextPosition({ epoch, index: start }, n, this.length),
    };
  }
}

describe('Prefetcher', () => {
  it('loads ahead while the consumer works, so the consumer barely waits', async () => {
    const loadMs = 40;
    const src = new FakeSource(10, 1, () => loadMs);
    const p = new Prefetcher(src, { from: { epoch: 1, index: 0 }, lastEpoch: 1, depth: 3 });
    const requested: number[] = [];
    let count = 0;
    for (;;) {
      requested.push(performance.now());
      const b = await p.next();
      if (!b) break;
      count++;
      await sleep(loadMs); // the "training step"
    }
    expect(count).toBe(10);
    // Every batch after the first few was already loading before the consumer asked for it.
    for (let k = 1; k < 10; k++) expect(src.started[k].at).toBeLessThan(requested[k]);
    // Without prefetching the consumer would wait about 10 x 40 ms; with it, about one load.
    expect(p.waitMs).toBeLessThan(0.5 * 10 * loadMs);
    expect(p.stats.batches).toBe(10);
  });

  it('hands batches out in order even when loads finish out of order, across epochs', async () => {
    const src = new FakeSource(5, 2, (start) => [30, 5, 15][start / 2]);
    const p = new Prefetcher(src, { from: { epoch: 2, index: 0 }, lastEpoch: 3, depth: 3 });
    const seen: string[] = [];
    for await (const b of p) seen.push(`${b.epoch}:${b.start}:${b.shapeA[0]}`);
    expect(seen).toEqual(['2:0:2', '2:2:2', '2:4:1', '3:0:2', '3:2:2', '3:4:1']);
    expect(p.position).toEqual({ epoch: 4, index: 0 });
    expect(await p.next()).toBeNull();
  });

  it('reports the position of the next batch after each one it hands out', async () => {
    const p = new Prefetcher(new FakeSource(5, 2, () => 1), { from: { epoch: 1, index: 2 }, lastEpoch: 2, depth: 2 });
    expect(p.position).toEqual({ epoch: 1, index: 2 });
    await p.next();
    expect(p.position).toEqual({ epoch: 1, index: 4 });
    await p.next();
    expect(p.position).toEqual({ epoch: 2, index: 0 });
  });

  it('passes loader errors to the consumer at the failing batch', async () => {
    const p = new Prefetcher(
      new FakeSource(
        4,
        1,
        () => 1,
        (s) => s === 2,
      ),
      { from: { epoch: 1, index: 0 }, lastEpoch: 1, depth: 4 },
    );
    await p.next();
    await p.next();
    await expect(p.next()).rejects.toThrow('disk on fire at 2');
  });

  it('validates its options', () => {
    const src = new FakeSource(4, 1, () => 1);
    expect(() => new Prefetcher(src, { from: { epoch: 1, index: 0 }, lastEpoch: 1, depth: 0 })).toThrow(/depth/);
    expect(() => new Prefetcher(src, { from: { epoch: 1, index: 4 }, lastEpoch: 1, depth: 1 })).toThrow(
      /outside the epoch/,
    );
  });
});

describe('unusable files', () => {
  let root: string;
  const opts: DataOptions = {
    preprocess: 'resize_and_crop',
    load_size: 12,
    crop_size: 8,
    no_flip: false,
    serial_batches: true,
    batch_size: 1,
    input_nc: 3,
    output_nc: 3,
    direction: 'AtoB',
    max_dataset_size: Infinity,
  };

  async function solid(file: string, level: number): Promise<Buffer> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const buf = await sharp({
      create: { width: 16, height: 16, channels: 3, background: { r: level, g: level, b: level } },
    })
      .png()
      .toBuffer();
    fs.writeFileSync(file, buf);
    return buf;
  }

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-bad-'));
    for (let i = 0; i < 4; i++) await solid(path.join(root, 'ok', 'trainA', `a${i}.png`), 10 * i);
    const full = await solid(path.join(root, 'ok', 'trainA', 'c_truncated.png'), 99);
    fs.writeFileSync(path.join(root, 'ok', 'trainA', 'c_truncated.png'), full.subarray(0, full.length - 20));
    fs.writeFileSync(path.join(root, 'ok', 'trainA', 'd_text.jpg'), 'definitely not a JPEG\n');
    await solid(path.join(root, 'ok', 'trainB', 'b0.png'), 200);
    // A dataset with nothing usable in A.
    fs.mkdirSync(path.join(root, 'bad', 'trainA'), { recursive: true });
    fs.writeFileSync(path.join(root, 'bad', 'trainA', 'x.png'), 'nope');
    await solid(path.join(root, 'bad', 'trainB', 'b0.png'), 200);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('skips a truncated PNG and a text file named .jpg with one warning each, however often they come up', async () => {
    const warnings: string[] = [];
    const ds = await UnalignedDataset.open(path.join(root, 'ok'), opts, { seed: 1, warn: (m) => warnings.push(m) });
    expect(ds.length).toBe(6);
    const p = new Prefetcher(ds, { from: { epoch: 1, index: 0 }, lastEpoch: 3, depth: 4 });
    const perEpoch = new Map<number, string[]>();
    for await (const b of p)
      perEpoch.set(b.epoch, [...(perEpoch.get(b.epoch) ?? []), ...b.aPaths.map((f) => path.basename(f))]);
    for (const e of [1, 2, 3]) expect(perEpoch.get(e)).toEqual(['a0.png', 'a1.png', 'a2.png', 'a3.png']);
    expect(warnings).toHaveLength(2);
    warnings.sort(); // the two decodes run concurrently
    expect(warnings[0]).toMatch(/^skipping unusable image .*c_truncated\.png: /);
    expect(warnings[1]).toMatch(/^skipping unusable image .*d_text\.jpg: /);
    warnings.forEach((w) => expect(w).not.toContain('\n'));
    expect([...ds.skippedFiles.keys()].map((f) => path.basename(f)).sort()).toEqual(['c_truncated.png', 'd_text.jpg']);
    expect(p.stats).toMatchObject({ batches: 12, skippedSamples: 6 });
  });

  it('drops only the unusable samples from a batch', async () => {
    const ds = await UnalignedDataset.open(
      path.join(root, 'ok'),
      { ...opts, batch_size: 3 },
      { seed: 1, warn: () => {} },
    );
    const first = await ds.loadBatch(1, 0);
    expect([first?.shapeA[0], first?.skipped]).toEqual([3, 0]);
    const second = await ds.loadBatch(1, 3); // a3, c_truncated, d_text
    expect([second?.shapeA, second?.skipped, second?.aPaths.map((f) => path.basename(f))]).toEqual([
      [1, 8, 8, 3],
      2,
      ['a3.png'],
    ]);
    const onlyBad = await new UnalignedDataset(ds.aPaths.slice(4), ds.bPaths, opts, 1, () => {}).loadBatch(1, 0);
    expect(onlyBad).toBeNull();
  });

  it('fails with one line when an epoch has no usable sample', async () => {
    const ds = await UnalignedDataset.open(path.join(root, 'bad'), opts, { seed: 1, warn: () => {} });
    const p = new Prefetcher(ds, { from: { epoch: 1, index: 0 }, lastEpoch: 5, depth: 2 });
    await expect(p.next()).rejects.toThrow('no usable images: every sample of epoch 1 was skipped');
  });
});
