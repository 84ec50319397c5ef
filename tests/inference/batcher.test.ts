import { BatchTimeoutError, Batcher, CancelledError, QueueFullError, type RunBatch } from '../../inference/batcher';

/** A fake model: output = input * 2 + sample index marker, records every batch it ran. */
function recorder(delayMs = 0) {
  const batches: { direction: string; dims: number[] }[] = [];
  const run: RunBatch = async (direction, data, dims) => {
    batches.push({ direction, dims: [...dims] });
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    return { data: data.map((v) => v * 2), dims: [...dims], ms: delayMs };
  };
  return { batches, run };
}

const sample = (value: number, hw = 2) => new Float32Array(3 * hw * hw).fill(value);
const dims = (hw = 2) => [1, 3, hw, hw];

describe('Batcher', () => {
  it('runs concurrent same-shape requests as one batch and gives each its own output', async () => {
    const r = recorder();
    const b = new Batcher({ maxBatch: 4, maxDelayMs: 50, maxQueue: 10, run: r.run });
    const results = await Promise.all([1, 2, 3].map((v) => b.submit('AtoB', sample(v), dims())));
    expect(r.batches).toEqual([{ direction: 'AtoB', dims: [3, 3, 2, 2] }]);
    results.forEach((res, i) => {
      expect(res.batchSize).toBe(3);
      expect(res.dims).toEqual([1, 3, 2, 2]);
      expect([...res.data]).toEqual(Array(12).fill((i + 1) * 2));
    });
  });

  it('dispatches as soon as a batch is full, without waiting for the delay', async () => {
    const r = recorder();
    const b = new Batcher({ maxBatch: 2, maxDelayMs: 10_000, maxQueue: 10, run: r.run });
    const t0 = Date.now();
    await Promise.all([b.submit('AtoB', sample(1), dims()), b.submit('AtoB', sample(2), dims())]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r.batches.map((x) => x.dims[0])).toEqual([2]);
  });

  it('never mixes directions or shapes in one batch and caps batches at maxBatch', async () => {
    const r = recorder();
    const b = new Batcher({ maxBatch: 2, maxDelayMs: 20, maxQueue: 10, run: r.run });
    await Promise.all([
      b.submit('AtoB', sample(1), dims()),
      b.submit('BtoA', sample(2), dims()),
      b.submit('AtoB', sample(3, 4), dims(4)),
      b.submit('AtoB', sample(4), dims()),
      b.submit('AtoB', sample(5), dims()),
    ]);
    const seen = r.batches.map((x) => `${x.direction}:${x.dims.join('x')}`).sort();
    expect(seen).toEqual(['AtoB:1x3x2x2', 'AtoB:1x3x4x4', 'AtoB:2x3x2x2', 'BtoA:1x3x2x2']);
  });

  it('gathers requests that arrive while a batch runs into the next batch', async () => {
    const r = recorder(100);
    const b = new Batcher({ maxBatch: 8, maxDelayMs: 0, maxQueue: 10, run: r.run });
    const first = b.submit('AtoB', sample(1), dims());
    await new Promise((res) => setTimeout(res, 20));
    const rest = [2, 3, 4].map((v) => b.submit('AtoB', sample(v), dims()));
    await Promise.all([first, ...rest]);
    expect(r.batches.map((x) => x.dims[0])).toEqual([1, 3]);
  });

  it('rejects with QueueFullError past maxQueue waiting requests', async () => {
    const r = recorder(50);
    const b = new Batcher({ maxBatch: 1, maxDelayMs: 0, maxQueue: 2, run: r.run });
    const running = b.submit('AtoB', sample(1), dims());
    await new Promise((res) => setTimeout(res, 10)); // now running, queue empty
    const queued = [b.submit('AtoB', sample(2), dims()), b.submit('AtoB', sample(3), dims())];
    expect(b.depth).toBe(2);
    await expect(b.submit('AtoB', sample(4), dims())).rejects.toBeInstanceOf(QueueFullError);
    await Promise.all([running, ...queued]);
    expect(b.retryAfterSeconds()).toBeGreaterThanOrEqual(1);
  });

  it('refuses by expected wait: pixels ahead × recent time per pixel against the deadline', async () => {
    const r = recorder(100); // every batch reports 100 ms
    const b = new Batcher({ maxBatch: 2, maxDelayMs: 5, maxQueue: 1000, run: r.run });
    expect(b.expectedWaitMs()).toBe(0); // nothing measured yet: nothing refused by wait
    await Promise.all([b.submit('AtoB', sample(1), dims()), b.submit('AtoB', sample(2), dims())]);
    const px = 2 * 2; // pixels of one sample
    expect(b.expectedWaitMs(px)).toBe(50); // 100 ms for a batch of 2: 50 ms per image, one image (itself)
    const running = b.submit('AtoB', sample(3), dims());
    await new Promise((res) => setTimeout(res, 10));
    // Far more waiting requests than a fixed queue of 32 would take: all fit a 30 s deadline.
    const accepted = Array.from({ length: 40 }, (_, i) =>
      b.submit('AtoB', sample(i), dims(), { deadline: Date.now() + 30_000 }),
    );
    expect(b.depth).toBe(40);
    expect(b.expectedWaitMs(px)).toBe((40 + 1 + 1) * 50);
    // A bigger image ahead counts for its pixels: 16 of these cost as much as 16 × 4 small ones.
    expect(b.expectedWaitMs(4 * 4 * px)).toBe((40 + 1 + 16) * 50);
    // The same request with a deadline shorter than that wait is refused at once, and queues nothing.
    const refused = b.submit('AtoB', sample(9), dims(), { deadline: Date.now() + 1000 });
    await expect(refused).rejects.toBeInstanceOf(QueueFullError);
    await expect(refused).rejects.toThrow(/expected wait 2100 ms \(41 image\(s\) ahead\)/);
    expect(b.depth).toBe(40);
    expect(b.retryAfterSeconds()).toBeGreaterThanOrEqual(2);
    await Promise.all([running, ...accepted]);
  });

  it('times out a request waiting in the queue and removes it', async () => {
    const r = recorder(300);
    const b = new Batcher({ maxBatch: 1, maxDelayMs: 0, maxQueue: 5, run: r.run });
    const running = b.submit('AtoB', sample(1), dims());
    await new Promise((res) => setTimeout(res, 10));
    const waiting = b.submit('AtoB', sample(2), dims(), { deadline: Date.now() + 50 });
    await expect(waiting).rejects.toThrow(/timed out after \d+ ms waiting in the queue/);
    expect(b.depth).toBe(0);
    await running;
    expect(r.batches).toHaveLength(1); // the timed-out request never ran
  });

  it('times out a request whose batch runs too long', async () => {
    const r = recorder(300);
    const b = new Batcher({ maxBatch: 1, maxDelayMs: 0, maxQueue: 5, run: r.run });
    const p = b.submit('AtoB', sample(1), dims(), { deadline: Date.now() + 50 });
    await expect(p).rejects.toBeInstanceOf(BatchTimeoutError);
    await expect(p).rejects.toThrow(/running/);
    await b.idle();
  });

  it('drops a waiting request whose client went away', async () => {
    const r = recorder(100);
    const b = new Batcher({ maxBatch: 1, maxDelayMs: 0, maxQueue: 5, run: r.run });
    const running = b.submit('AtoB', sample(1), dims());
    await new Promise((res) => setTimeout(res, 10));
    const ac = new AbortController();
    const waiting = b.submit('AtoB', sample(2), dims(), { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    await running;
    expect(r.batches).toHaveLength(1);
  });

  it('fails every request of a batch whose run throws, then keeps serving', async () => {
    let fail = true;
    const b = new Batcher({
      maxBatch: 4,
      maxDelayMs: 20,
      maxQueue: 5,
      run: async (_d, data, d) => {
        if (fail) throw new Error('boom');
        return { data, dims: d, ms: 0 };
      },
    });
    const batch = [b.submit('AtoB', sample(1), dims()), b.submit('AtoB', sample(2), dims())];
    for (const p of batch) await expect(p).rejects.toThrow('boom');
    fail = false;
    await expect(b.submit('AtoB', sample(3), dims())).resolves.toMatchObject({ batchSize: 1 });
  });

  it('idle() resolves only after queued and running work is done', async () => {
    const r = recorder(60);
    const b = new Batcher({ maxBatch: 1, maxDelayMs: 0, maxQueue: 5, run: r.run });
    const done: number[] = [];
    void b.submit('AtoB', sample(1), dims()).then(() => done.push(1));
    void b.submit('AtoB', sample(2), dims()).then(() => done.push(2));
    await b.idle();
    expect(done).toEqual([1, 2]);
  });

  it('reports batch sizes to onBatch', async () => {
    const sizes: number[] = [];
    const r = recorder();
    const b = new Batcher({ maxBatch: 3, maxDelayMs: 30, maxQueue: 5, run: r.run, onBatch: (_d, n) => sizes.push(n) });
    await Promise.all([1, 2, 3].map((v) => b.submit('AtoB', sample(v), dims())));
    expect(sizes).toEqual([3]);
  });
});
