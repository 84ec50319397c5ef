/**
 * train/engines: what `--engine auto` says about a WebGPU adapter it passed over. A software adapter
 * (a CPU emulating a GPU) never wins an automatic choice: the run trains on the onnxruntime CPU
 * engine and one line says why; a hardware adapter or none needs no such line.
 *
 * The two engines `--engine` chooses between (train/engines.ts) over a whole run, not one
 * iteration: 200 iterations of the real data pipeline (order, crops, flips), the learning rate of
 * every epoch (13 decay steps) and image pools that fill and then draw, run on the onnxruntime and
 * the tfjs engine in lockstep. Left to run apart, the two trajectories diverge chaotically from
 * float rounding alone (bench/README.md, "Parity of whole runs": relative loss differences of 1e-1
 * by iteration 10), so no tolerance on the end state could separate a bug from rounding. Here,
 * every iteration starts both engines from one state (the leader's, alternating by epoch so each
 * engine runs its own learning-rate and pool code), and each iteration must agree: losses within
 * the one-iteration tolerance, the same pool draws and pooled images, and the same size of
 * weight update (learning rate, Adam) within UPDATE_TOL. A pool, schedule or augmentation difference in one
 * engine fails it at the first iteration it touches (the README lists the perturbations tried).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { generatorSpec, discriminatorSpec } from '../../core/arch/spec';
import { initBackend } from '../../core/tf/backend';
import { Rng } from '../../core/rng';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { openTrainData } from '../../train/data/trainDataset';
import { learningRate } from '../../train/lrSchedule';
import { discriminatorOptions, generatorOptions, NET_NAMES, type NetName } from '../../train/model/cycleGan';
import { initialModelState, type ModelState } from '../../train/model/modelState';
import { LOSS_NAMES, type TrainingModel } from '../../train/model/trainingModel';
import { OrtTrainingModel } from '../../train/onnx/ortTrainingModel';
import { LocalTrainingModel } from '../../train/tfjs/localTrainingModel';
import { parseTrainOptions } from '../../train/trainOptions';
import { scaledMaxError } from '../helpers/compare';
import { TINY_NETWORKS } from '../helpers/tinyTraining';
import { biasesBeforeInstanceNorm } from '../helpers/zeroGradients';
import type { AdapterProbe } from '../../core/gpu/webgpuAdapter';
import { resolveEngine } from '../../train/engines';

const LAVAPIPE: AdapterProbe = {
  found: true,
  adapterClass: 'software',
  adapter: {
    vendor: 'mesa',
    architecture: 'software',
    device: 'llvmpipe-llvm-15-0-6-256-bits-',
    description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
    isFallbackAdapter: true,
  },
};
const H200: AdapterProbe = {
  found: true,
  adapterClass: 'hardware',
  adapter: { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200' },
};

function picked(extra: Record<string, unknown>, backend: string, adapter: AdapterProbe) {
  const lines: string[] = [];
  const o = parseTrainOptions({ dataroot: '/nonexistent', workers: 1, threads: 2, ...extra });
  let probes = 0;
  const plan = resolveEngine(
    o,
    backend,
    (m) => lines.push(m),
    () => (probes++, adapter),
  );
  return { plan, lines, probes };
}

test('auto passes over a software adapter to the onnxruntime CPU engine, in one line naming it', () => {
  expect(picked({}, 'wasm', LAVAPIPE)).toEqual({
    plan: { engine: 'onnxruntime', threads: 2, workers: 1 },
    lines: [
      'engine auto: onnxruntime on the CPU, passed over the software WebGPU adapter (llvmpipe): ' +
        'the onnxruntime CPU engine is faster (--device webgpu uses it)',
    ],
    probes: 1,
  });
});

test('no line where there is no adapter or a hardware one, or where the engine was named', () => {
  expect(picked({}, 'wasm', { found: false, reason: 'no WebGPU adapter' }).lines).toEqual([]);
  expect(picked({}, 'wasm', H200).lines).toEqual([]);
  const named = picked({ engine: 'onnxruntime' }, 'wasm', LAVAPIPE);
  expect(named).toEqual({ plan: { engine: 'onnxruntime', threads: 2, workers: 1 }, lines: [], probes: 0 });
});

test('the tfjs engine on an adapter asked for by name is not second-guessed', () => {
  expect(picked({ threads: undefined }, 'webgpu', LAVAPIPE)).toEqual({
    plan: { engine: 'tfjs', backend: 'webgpu', workers: 1 },
    lines: ['tfjs backend webgpu: training on the tfjs engine'],
    probes: 0,
  });
});

const ITERS = 200;
/** One iteration's tolerance on losses and pooled images (tests/train/onnx/ortTrainingModel.test.ts). */
const TOL = 1e-4;
/**
 * |‖Δw_onnxruntime‖ / ‖Δw_tfjs‖ − 1| per network: the size of the step each engine took (learning
 * rate, Adam). Not the distance between the steps: Adam turns the rounding noise of near-zero
 * gradients into steps of ±lr, which move the distance by percents but not the norm.
 */
const UPDATE_TOL = 3e-2;

const root = mkdtempSync(path.join(tmpdir(), 'engine-lockstep-'));
const o = parseTrainOptions({
  dataroot: path.join(root, 'data'),
  ...TINY_NETWORKS,
  // 8 images: 8 iterations an epoch, 25 epochs, the last 13 decaying.
  n_epochs: 12,
  n_epochs_decay: 13,
  // Full after 10 iterations: 190 iterations of draws from each pool.
  pool_size: 10,
  seed: 11,
  workers: 1,
});

interface Iteration {
  iter: number;
  leader: string;
  lossErr: number;
  updateErr: number;
  updateNet: string;
  poolErr: number;
  sameDraws: boolean;
  sameLr: boolean;
}

/** The weights an engine moved, as (after − before), leaving out those with a zero true gradient. */
function updates(before: ModelState, after: ModelState, skip: Record<NetName, Set<string>>) {
  const out = {} as Record<NetName, Float64Array>;
  for (const net of NET_NAMES) {
    const parts: number[] = [];
    for (const [key, t] of before.nets[net]) {
      if (skip[net].has(key) || /running_/.test(key)) continue;
      const a = after.nets[net].get(key)!.data;
      for (let i = 0; i < t.data.length; i++) parts.push(a[i] - t.data[i]);
    }
    out[net] = Float64Array.from(parts);
  }
  return out;
}

function normRatioError(x: Float64Array, ref: Float64Array): number {
  const norm = (v: Float64Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  return Math.abs(norm(x) / norm(ref) - 1);
}

const iterations: Iteration[] = [];

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: o.dataroot, size: 36, n: 8, n_test: 1, seed: 4, force: false });
  const skip = {
    G_A: biasesBeforeInstanceNorm(generatorSpec(generatorOptions(o, 'AtoB'))),
    G_B: biasesBeforeInstanceNorm(generatorSpec(generatorOptions(o, 'BtoA'))),
    D_A: biasesBeforeInstanceNorm(discriminatorSpec(discriminatorOptions(o, 'B'))),
    D_B: biasesBeforeInstanceNorm(discriminatorSpec(discriminatorOptions(o, 'A'))),
  };
  const start = initialModelState(o, new Rng(o.seed!), o.seed!);
  const ort: TrainingModel = await OrtTrainingModel.open(o, start, 1);
  const tfjs: TrainingModel = new LocalTrainingModel(o, start);
  const data = await openTrainData(o, () => undefined);
  try {
    let iter = 0;
    for (let epoch = 1; epoch <= o.n_epochs + o.n_epochs_decay && iter < ITERS; epoch++) {
      for (const m of [ort, tfjs]) await m.setLearningRate(learningRate(o, epoch));
      const [leader, follower] = epoch % 2 === 1 ? [ort, tfjs] : [tfjs, ort];
      for await (const b of data.epoch(o.seed!, epoch, 0)) {
        const before = await leader.exportState();
        await follower.importState(before);
        const lo = await ort.optimize(b.A, b.shapeA, b.B, b.shapeB);
        const lt = await tfjs.optimize(b.A, b.shapeA, b.B, b.shapeB);
        const [so, st] = [await ort.exportState(), await tfjs.exportState()];
        const rec: Iteration = {
          iter: ++iter,
          leader: leader === ort ? 'onnxruntime' : 'tfjs',
          lossErr: Math.max(...LOSS_NAMES.map((k) => Math.abs(lo[k] - lt[k]) / Math.max(1, Math.abs(lt[k])))),
          updateErr: 0,
          updateNet: '',
          poolErr: 0,
          sameDraws: JSON.stringify(so.poolRng) === JSON.stringify(st.poolRng),
          sameLr: so.lr === st.lr,
        };
        const [uo, ut] = [updates(before, so, skip), updates(before, st, skip)];
        for (const net of NET_NAMES) {
          const e = normRatioError(uo[net], ut[net]);
          if (e > rec.updateErr) [rec.updateErr, rec.updateNet] = [e, net];
        }
        for (const p of ['A', 'B'] as const) {
          if (so.pools[p].images.length !== st.pools[p].images.length) rec.poolErr = Infinity;
          else
            st.pools[p].images.forEach((t, i) => {
              rec.poolErr = Math.max(rec.poolErr, scaledMaxError(so.pools[p].images[i].data, t.data));
            });
        }
        iterations.push(rec);
        if (iter >= ITERS) break;
      }
    }
  } finally {
    await Promise.all([ort.dispose(), tfjs.dispose()]);
  }
}, 900_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const worst = (key: 'lossErr' | 'updateErr' | 'poolErr') =>
  iterations.reduce((a, r) => (r[key] > a[key] ? r : a), iterations[0]);

test('200 lockstep iterations over 25 epochs, each engine leading in turn', () => {
  expect(iterations).toHaveLength(ITERS);
  expect(new Set(iterations.map((r) => r.leader))).toEqual(new Set(['onnxruntime', 'tfjs']));
});

test('every iteration: the same pool draws, pooled images within 1e-4, the same learning rate', () => {
  expect(iterations.filter((r) => !r.sameDraws).map((r) => r.iter)).toEqual([]);
  expect(iterations.filter((r) => !r.sameLr).map((r) => r.iter)).toEqual([]);
  const w = worst('poolErr');
  expect([w.iter, w.poolErr <= TOL]).toEqual([w.iter, true]);
});

test('every iteration: the eight losses within 1e-4 and the sizes of the weight updates within 3 %', () => {
  const l = worst('lossErr');
  expect([l.iter, l.lossErr <= TOL]).toEqual([l.iter, true]);
  const u = worst('updateErr');
  expect([u.iter, u.updateNet, u.updateErr <= UPDATE_TOL]).toEqual([u.iter, u.updateNet, true]);
});

afterAll(() => {
  // The margins, for bench/README.md.
  const l = worst('lossErr');
  const u = worst('updateErr');
  process.stdout.write(
    `lockstep worst: loss ${l.lossErr.toExponential(2)} (iteration ${l.iter}), update ${u.updateErr.toExponential(2)} ` +
      `(${u.updateNet}, iteration ${u.iter}), pool ${worst('poolErr').poolErr.toExponential(2)}\n`,
  );
});
