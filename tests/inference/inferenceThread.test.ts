/**
 * Closing a model's inference thread (inference/inferenceThread.ts, inferenceWorker.ts) while it
 * is busy, as a replaced or unloaded model version is under load: ending the worker during an
 * onnxruntime call aborts the whole process (`terminate called after throwing an instance of
 * 'Napi::Error'`, what bench:soak hit), so closing must wait for every run it is executing, and
 * runs sent after the close must fail with an error without reaching a session.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Model, ModelSettings } from '../../inference/model';
import { openModel } from '../../inference/openModel';
import { writeTinyModel } from '../helpers/tinyModel';

/** Aimed well past the 5 s after which closing used to end a busy worker (queued runs go faster than one alone). */
const QUEUED_WORK_MS = 9000;
const SIDE = 128;

const SETTINGS: ModelSettings = {
  providers: ['cpu'],
  session: { intraOpThreads: 1 },
  maxBatch: 1,
  batchDelayMs: 0,
  maxQueue: 4,
  limits: { maxPixels: 4096 * 4096 },
};

let dir: string;
let model: Model;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'inference-thread-'));
  await writeTinyModel(dir, { name: 'busy', ngf: 8, preferredSize: SIDE, directions: ['AtoB'] });
  model = await openModel(path.join(dir, 'busy'), SETTINGS);
});

afterAll(async () => {
  await model?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const input = () => new Float32Array(3 * SIDE * SIDE).fill(0.25);

test('closing waits for every run already sent, however long they take, and each returns its result', async () => {
  let runMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await model.thread.run('AtoB', input(), [1, 3, SIDE, SIDE]);
    runMs = Math.min(runMs, Math.max(1, performance.now() - t0));
  }
  const n = Math.min(2000, Math.ceil(QUEUED_WORK_MS / runMs));
  const runs = Array.from({ length: n }, () => model.thread.run('AtoB', input(), [1, 3, SIDE, SIDE]));
  const started = performance.now();
  await model.thread.close();
  const results = await Promise.allSettled(runs);
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  for (const r of results) if (r.status === 'fulfilled') expect(r.value.dims).toEqual([1, 3, SIDE, SIDE]);
  // The work outlasted the old limit (else this test would prove nothing about it).
  expect(performance.now() - started).toBeGreaterThan(5000);
  expect(model.thread.alive).toBe(false);
}, 120_000);

test('a run sent after the close fails with a clear error instead of reaching a released session', async () => {
  const other = await openModel(path.join(dir, 'busy'), SETTINGS);
  const busy = other.thread.run('AtoB', input(), [1, 3, SIDE, SIDE]);
  const closing = other.thread.close();
  const late = other.thread.run('AtoB', input(), [1, 3, SIDE, SIDE]);
  await expect(late).rejects.toThrow('this model version was closed');
  await expect(busy).resolves.toMatchObject({ dims: [1, 3, SIDE, SIDE] });
  await closing;
}, 60_000);
