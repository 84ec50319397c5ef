/**
 * Checkpoints resume exactly: K iterations straight vs. K/2, stop, resume from `latest`, K/2 more —
 * with the same seed the final weights, optimiser moments and pools agree. K crosses an epoch
 * boundary and the split falls mid-epoch, with a learning-rate decay and a non-empty image pool.
 * On the tfjs engine on one thread, on two worker threads (--workers 2) and switching from one to
 * two on resume; and on the onnxruntime engine, on this thread and on two workers, where for a given
 * thread count the resumed run is bit for bit the straight one (cross-engine resumes: tests/train/onnx/ortTrainingModel.test.ts).
 */
import { mkdtempSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseTrainOptions, type TrainOptions } from '../../train/trainOptions';
import { initBackend } from '../../core/tf/backend';
import { readTensorFile, writeTensorFile } from '../../core/io/tensorFile';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { checkpointModelState, loadCheckpoint } from '../../train/checkpoint';
import { poolStreams } from '../../train/model/modelState';
import { scaledMaxError } from '../helpers/compare';
import { TINY_NETWORKS, trainQuietly } from '../helpers/tinyTraining';
import { Trainer } from '../../train/trainer';
import { openTrainData } from '../../train/data/trainDataset';

const root = mkdtempSync(path.join(tmpdir(), 'resume-'));
const dataroot = path.join(root, 'data');

function options(name: string, extra: Record<string, unknown>): TrainOptions {
  return parseTrainOptions({
    dataroot,
    name,
    checkpoints_dir: path.join(root, 'ck'),
    ...TINY_NETWORKS,
    n_epochs: 2,
    n_epochs_decay: 2,
    pool_size: 2,
    print_freq: 3,
    display_freq: 4,
    save_epoch_freq: 1,
    seed: 7,
    backend: 'wasm',
    engine: 'tfjs',
    ...extra,
  });
}

const train = (o: TrainOptions) => trainQuietly(o);

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 36, n: 4, n_test: 2, seed: 3, force: false });
});

const tfjs = (workers: number) => ({ engine: 'tfjs', workers });
const ort = (workers: number) => ({ engine: 'onnxruntime', threads: 2, workers });

describe.each([
  // [label, options before the split, after it, tolerance (scaled max error)]
  ['1 worker', tfjs(1), tfjs(1), 1e-6],
  ['2 workers', tfjs(2), tfjs(2), 1e-6],
  ['1 worker, resumed on 2', tfjs(1), tfjs(2), 1e-6],
  // For a fixed thread count onnxruntime's kernels split and sum the same way every run.
  ['onnxruntime, 1 worker', ort(1), ort(1), 0],
  ['onnxruntime, 2 workers', ort(2), ort(2), 0],
] as const)('%s', (label, before, after, tolerance) => {
  test('K iterations straight equal K/2 + resume + K/2', async () => {
    const K = 10; // 4 iterations per epoch: ends in epoch 3, split at epoch 2 iteration 1
    const tag = label.replace(/\W+/g, '_');
    const straightName = `straight_${tag}`;
    const splitName = `split_${tag}`;
    const straight = await train(options(straightName, { max_iters: K, ...before }));
    expect(straight.stoppedBy).toBe('max_iters');
    expect(straight.position).toMatchObject({ epoch: 3, epochIter: 2, totalIters: K });

    const first = await train(options(splitName, { max_iters: K / 2, ...before }));
    expect(first.position).toMatchObject({ epoch: 2, epochIter: 1, totalIters: K / 2 });
    const second = await train(options(splitName, { max_iters: K, continue_train: true, ...after }));
    expect(second.itersRun).toBe(K / 2);
    expect(second.position).toEqual(straight.position);

    const a = await readTensorFile(path.join(root, 'ck', straightName, 'latest.ckpt'));
    const b = await readTensorFile(path.join(root, 'ck', splitName, 'latest.ckpt'));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    const keys = [...a.tensors.keys()];
    expect(keys.some((k) => k.startsWith('pool.A.'))).toBe(true);
    expect(keys.some((k) => k.startsWith('adam.D.v.'))).toBe(true);
    let worst = { key: '', err: 0 };
    for (const k of keys) {
      const err = scaledMaxError(b.tensors.get(k)!.data, a.tensors.get(k)!.data);
      if (err > worst.err) worst = { key: k, err };
    }
    expect(worst.err).toBeLessThanOrEqual(tolerance);
    const metaA = a.meta as { lr: number; rng: number[]; optimizers: unknown; extra: Record<string, unknown> };
    const metaB = b.meta as typeof metaA;
    expect(metaB.lr).toBe(metaA.lr);
    expect(metaB.rng).toEqual(metaA.rng);
    expect(metaB.optimizers).toEqual(metaA.optimizers);
    expect(metaB.extra.poolRng).toEqual(metaA.extra.poolRng);
    expect(metaB.extra.dropoutCounter).toEqual(metaA.extra.dropoutCounter);
  });
});

test('a checkpoint from before the pools had their own random streams resumes with derived ones', async () => {
  await train(options('legacy', { max_iters: 3, workers: 1 }));
  const file = path.join(root, 'ck', 'legacy', 'latest.ckpt');
  const { meta, tensors } = await readTensorFile<{ extra: Record<string, unknown> }>(file);
  delete meta!.extra.poolRng;
  await writeTensorFile(file, meta, tensors);
  expect(checkpointModelState(await loadCheckpoint(file)).poolRng).toEqual(poolStreams(7, 3));
  const resumed = await train(options('legacy', { max_iters: 5, continue_train: true }));
  expect(resumed.itersRun).toBe(2);
});

test('a run writes options, numbered checkpoints, loss log, sample grids and a report', async () => {
  const dir = path.join(root, 'ck', 'straight_1_worker');
  const files = readdirSync(dir);
  expect(files).toEqual(
    expect.arrayContaining(['train_opt.json', 'latest.ckpt', '1.ckpt', '2.ckpt', 'loss_log.jsonl', 'report.html']),
  );
  const log = readFileSync(path.join(dir, 'loss_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(log.map((r) => r.step)).toEqual([3, 6, 9]);
  expect(Object.keys(log[0].losses)).toEqual(['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B']);
  expect(readdirSync(path.join(dir, 'web', 'images')).length).toBeGreaterThanOrEqual(2);
  const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
  expect(html).toContain('<svg');
  expect(html).toContain('web/images/');
  expect(existsSync(path.join(dir, '3.ckpt'))).toBe(false);
});

test('--max_iters on an epoch boundary finishes that epoch: numbered checkpoint, resume at the next epoch', async () => {
  const r = await train(options('boundary', { max_iters: 8, workers: 1 })); // 4 iterations per epoch
  expect(r.stoppedBy).toBe('max_iters');
  expect(r.position).toMatchObject({ epoch: 3, epochIter: 0, totalIters: 8 });
  const dir = path.join(root, 'ck', 'boundary');
  expect(existsSync(path.join(dir, '2.ckpt'))).toBe(true);
  const latest = await readTensorFile<{ position: { epoch: number; epochIter: number } }>(
    path.join(dir, 'latest.ckpt'),
  );
  expect(latest.meta.position).toMatchObject({ epoch: 3, epochIter: 0 });
});

test('losses are read back only at print_freq, and skipping the reads changes no weight', async () => {
  const withLosses: number[] = [];
  const run = async (name: string, printFreq: number) => {
    const o = options(name, { max_iters: 5, workers: 1, print_freq: printFreq, display_freq: 100 });
    const hooks = {
      log: () => undefined,
      onIteration: (p: { totalIters: number; losses?: unknown }) => {
        if (printFreq === 3 && p.losses) withLosses.push(p.totalIters);
      },
    };
    await new Trainer(o, await openTrainData(o, () => undefined), hooks).run();
    return readTensorFile(path.join(root, 'ck', name, 'latest.ckpt'));
  };
  const everyStep = await run('print_every', 1);
  const sparse = await run('print_sparse', 3);
  expect(withLosses).toEqual([3]);
  for (const [k, t] of everyStep.tensors)
    expect([k, scaledMaxError(sparse.tensors.get(k)!.data, t.data)]).toEqual([k, 0]);
});
