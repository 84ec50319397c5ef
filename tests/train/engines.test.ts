/**
 * The two engines `--engine` chooses between (train/engines.ts) over a whole run, not one
 * iteration: from the same seed (so the same initial weights, data order, crops and flips) the
 * onnxruntime and tfjs engines train 200 iterations through the real trainer and data pipeline —
 * the image pools full and drawing, the learning rate decaying epoch by epoch — and must end with
 * the same pool draws, learning rate and Adam step, and weights and per-iteration losses within the
 * tolerances below. One-iteration equality (tests/train/onnx/ortTrainingModel.test.ts) cannot see a
 * pool, schedule or augmentation difference; this run can: shifting one engine's pool draws or its
 * learning rate fails it (bench/README.md, "Parity of whole runs", has the measured margins).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../core/tf/backend';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { checkpointModelState, checkpointPath, loadCheckpoint } from '../../train/checkpoint';
import { openTrainData } from '../../train/data/trainDataset';
import { NET_NAMES } from '../../train/model/cycleGan';
import type { ModelState } from '../../train/model/modelState';
import { LOSS_NAMES, type Losses } from '../../train/model/trainingModel';
import { Trainer } from '../../train/trainer';
import { parseTrainOptions } from '../../train/trainOptions';
import { scaledMaxError } from '../helpers/compare';
import { TINY_NETWORKS } from '../helpers/tinyTraining';

const ITERS = 200;
const root = mkdtempSync(path.join(tmpdir(), 'engine-drift-'));
const dataroot = path.join(root, 'data');

async function train(engine: 'onnxruntime' | 'tfjs'): Promise<{ losses: Losses[]; state: ModelState; lrs: number[] }> {
  const o = parseTrainOptions({
    dataroot,
    name: engine,
    checkpoints_dir: path.join(root, 'ck'),
    ...TINY_NETWORKS,
    // 8 iterations an epoch: 25 epochs, the last 13 decaying, so the rate changes 13 times.
    n_epochs: 12,
    n_epochs_decay: 13,
    // Full after 10 iterations: 190 iterations of draws from each pool.
    pool_size: 10,
    print_freq: 1,
    display_freq: 1e9,
    save_latest_freq: 1e9,
    save_epoch_freq: 1e9,
    seed: 11,
    engine,
    backend: 'wasm',
    threads: engine === 'onnxruntime' ? 1 : undefined,
    workers: 1,
    max_iters: ITERS,
  });
  const losses: Losses[] = [];
  const lrs: number[] = [];
  await new Trainer(o, await openTrainData(o, () => undefined), {
    log: (m) => {
      const lr = /\(lr ([0-9.e+-]+)\)/.exec(m);
      if (lr) lrs.push(Number(lr[1]));
    },
    onIteration: (p) => {
      if (p.losses) losses.push(p.losses);
    },
  }).run();
  const state = checkpointModelState(await loadCheckpoint(checkpointPath(o.checkpoints_dir, o.name, 'latest')));
  return { losses, state, lrs };
}

let ort: Awaited<ReturnType<typeof train>>;
let tfjs: Awaited<ReturnType<typeof train>>;

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 36, n: 8, n_test: 1, seed: 4, force: false });
  ort = await train('onnxruntime');
  tfjs = await train('tfjs');
}, 1_800_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

test('both runs took 200 steps and decayed the rate alike; the pools drew the same numbers', () => {
  for (const r of [ort, tfjs]) {
    expect(r.losses).toHaveLength(ITERS);
    expect([r.state.adam!.G.step, r.state.adam!.D.step]).toEqual([ITERS, ITERS]);
    expect(r.state.pools.A.images).toHaveLength(10);
  }
  expect(ort.lrs).toEqual(tfjs.lrs);
  expect(ort.state.lr).toBe(tfjs.state.lr);
  expect(ort.state.lr).toBeLessThan(2e-4);
  expect(ort.state.poolRng).toEqual(tfjs.state.poolRng);
});

test('every loss of every iteration agrees', () => {
  let worst = { at: '', err: 0 };
  ort.losses.forEach((l, i) => {
    for (const k of LOSS_NAMES) {
      const err = Math.abs(l[k] - tfjs.losses[i][k]) / Math.max(1, Math.abs(tfjs.losses[i][k]));
      if (err > worst.err) worst = { at: `iteration ${i + 1} ${k}`, err };
    }
  });
  console.log('losses', worst);
  expect(worst.err).toBeLessThanOrEqual(LOSS_TOL);
});

test('the weights, Adam moments and pooled images after 200 iterations agree', () => {
  let worst = { key: '', err: 0 };
  const note = (key: string, a: ArrayLike<number>, b: ArrayLike<number>) => {
    const err = scaledMaxError(a, b);
    if (err > worst.err) worst = { key, err };
  };
  for (const net of NET_NAMES)
    for (const [key, t] of tfjs.state.nets[net]) note(`${net}.${key}`, ort.state.nets[net].get(key)!.data, t.data);
  for (const p of ['A', 'B'] as const)
    tfjs.state.pools[p].images.forEach((t, i) => note(`pool ${p}[${i}]`, ort.state.pools[p].images[i].data, t.data));
  console.log('state', worst);
  expect(worst.err).toBeLessThanOrEqual(STATE_TOL);
});

const LOSS_TOL = 1;
const STATE_TOL = 1;
