/**
 * The onnxruntime training engine as part of `npm run train` (its numerics against PyTorch:
 * train/onnx/ortTrainingModelGolden.test.ts and, split over two workers, train/tfjs/networks.test.ts): which
 * engine --engine auto picks and why, on how many workers, a state moving between the engines
 * unchanged and training on alike from there, on this thread and on two workers, the image pools and their random streams,
 * and un-cropped preprocessing, whose every new image size loads new step sessions (a bounded cache).
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { parseTrainOptions, type TrainOptions } from '../../../train/trainOptions';
import { readTensorFile } from '../../../core/io/tensorFile';
import { Rng } from '../../../core/rng';
import { initBackend } from '../../../core/tf/backend';
import { NET_NAMES } from '../../../train/model/cycleGan';
import { LOSS_NAMES } from '../../../train/model/trainingModel';
import { LocalTrainingModel } from '../../../train/tfjs/localTrainingModel';
import { initialModelState, poolStreams, type ModelState, type Shape4 } from '../../../train/model/modelState';
import { dropoutMultiplier } from '../../../train/onnx/dropoutMask';
import { trainingSessionOptions } from '../../../core/onnx/ortRuntime';
import { MAX_SESSIONS } from '../../../train/onnx/ortModelBase';
import { OrtTrainingModel } from '../../../train/onnx/ortTrainingModel';
import { ParallelTrainingModel } from '../../../train/parallel/parallelTrainingModel';
import { describeEngine, ORT_AUTO_WORKERS_FROM, resolveEngine } from '../../../train/engines';
import { type TrainingModel } from '../../../train/model/trainingModel';
import { scaledMaxError } from '../../helpers/compare';
import { TINY_NETWORKS, trainQuietly } from '../../helpers/tinyTraining';
import { expectStatesAlike, sameBits, stateDifferences } from '../../helpers/modelStates';

const TOL = 1e-4;
const THREADS = 2;

/** The onnxruntime models from `state`: on this thread, and split by side over two workers of one thread each. */
async function ortModels(o: TrainOptions, state: ModelState): Promise<[string, TrainingModel][]> {
  return [
    ['this thread', await OrtTrainingModel.open(o, state, THREADS)],
    ['2 workers', await ParallelTrainingModel.open(o, state, { engine: 'onnxruntime', threads: 1 })],
  ];
}
const root = mkdtempSync(path.join(tmpdir(), 'ort-engine-'));

function options(extra: Record<string, unknown> = {}): TrainOptions {
  return parseTrainOptions({ dataroot: root, ...TINY_NETWORKS, pool_size: 2, seed: 1, ...extra });
}

/** A batch of one random image in [-1, 1]. */
function image(seed: number, h = 32, w = 32): { data: Float32Array; shape: Shape4 } {
  const rng = new Rng(seed);
  return { data: Float32Array.from({ length: h * w * 3 }, () => 2 * rng.next() - 1), shape: [1, h, w, 3] };
}

async function steps(model: TrainingModel, from: number, n: number, sizes?: [number, number][]) {
  const losses = [];
  for (let i = from; i < from + n; i++) {
    const [h, w] = sizes?.[i - from] ?? [32, 32];
    const a = image(2 * i, h, w);
    const b = image(2 * i + 1, h, w);
    losses.push(await model.optimize(a.data, a.shape, b.data, b.shape));
  }
  return losses;
}

beforeAll(async () => {
  await initBackend('wasm');
});

test('step sessions run in order on the intra-op threads asked for, from the arena without a memory pattern', () => {
  // The memory pattern kept a slot for every tensor of a run: 5.7 GB at 256² against 3.4 GB without it.
  expect(trainingSessionOptions(3)).toEqual({
    executionProviders: ['cpu'],
    intraOpNumThreads: 3,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableMemPattern: false,
  });
});

describe('--engine', () => {
  const picked = (extra: Record<string, unknown>, backend = 'wasm') => {
    const lines: string[] = [];
    // No adapter: what auto says about a software one is tests/train/engines.test.ts's.
    const plan = resolveEngine(
      options(extra),
      backend,
      (m) => lines.push(m),
      () => ({ found: false, reason: '' }),
    );
    return { plan, lines };
  };

  test(`auto trains on onnxruntime on the CPU backends, dropout included, on every core: 1 session below ${ORT_AUTO_WORKERS_FROM} threads, 2 workers of half the threads from there`, () => {
    const cores = availableParallelism();
    const workers = cores >= ORT_AUTO_WORKERS_FROM ? 2 : 1;
    for (const backend of ['wasm', 'cpu'])
      expect(picked({}, backend)).toEqual({ plan: { engine: 'onnxruntime', threads: cores, workers }, lines: [] });
    expect(picked({ no_dropout: false }).plan).toEqual({ engine: 'onnxruntime', threads: cores, workers });
    expect(ORT_AUTO_WORKERS_FROM).toBe(4);
    expect(picked({ threads: 3 }).plan).toEqual({ engine: 'onnxruntime', threads: 3, workers: 1 });
    expect(picked({ threads: 4 }).plan).toEqual({ engine: 'onnxruntime', threads: 4, workers: 2 });
    expect(picked({ threads: 8, workers: 1 }).plan).toEqual({ engine: 'onnxruntime', threads: 8, workers: 1 });
    expect(picked({ threads: 2, workers: 2 }).plan).toEqual({ engine: 'onnxruntime', threads: 2, workers: 2 });
    expect(picked({ norm: 'batch', threads: 4 })).toEqual({
      plan: { engine: 'onnxruntime', threads: 4, workers: 1 },
      lines: [
        "1 worker thread: with --norm batch two workers would update the generators' running statistics differently",
      ],
    });
    expect(describeEngine({ engine: 'onnxruntime', threads: 3, workers: 1 })).toBe('onnxruntime engine, 3 threads');
    expect(describeEngine({ engine: 'onnxruntime', threads: 4, workers: 2 })).toBe(
      'onnxruntime engine, 2 worker threads × 2 threads each',
    );
    expect(describeEngine({ engine: 'onnxruntime', threads: 2, workers: 2 })).toBe(
      'onnxruntime engine, 2 worker threads × 1 thread each',
    );
  });

  test('auto falls back to tfjs, saying why, for uncropped sizes and the GPU or native backends', () => {
    for (const preprocess of ['none', 'scale_width'])
      expect(picked({ preprocess, workers: 1 })).toEqual({
        plan: { engine: 'tfjs', backend: 'wasm', workers: 1 },
        lines: [
          `--preprocess ${preprocess} keeps each image's size (onnxruntime builds step graphs per size): training on the tfjs engine`,
        ],
      });
    expect(picked({ preprocess: 'scale_width_and_crop' }).plan.engine).toBe('onnxruntime');
    for (const backend of ['webgpu', 'tensorflow'])
      expect(picked({}, backend)).toEqual({
        plan: { engine: 'tfjs', backend, workers: 1 },
        lines: [`tfjs backend ${backend}: training on the tfjs engine`],
      });
  });

  test("--threads is onnxruntime's: tfjs ignores it with a log line", () => {
    expect(picked({ engine: 'tfjs', threads: 4, workers: 1 })).toEqual({
      plan: { engine: 'tfjs', backend: 'wasm', workers: 1 },
      lines: ["--threads 4 ignored: the tfjs engine's threads follow --workers"],
    });
  });
});

describe('a state moves between the engines unchanged and trains on alike', () => {
  const o = options();
  let fromOrt: ModelState;
  let fromTfjs: ModelState;

  beforeAll(async () => {
    // Three iterations fill both pools (pool_size 2) and draw from their random streams.
    const ort = await OrtTrainingModel.open(o, initialModelState(o, new Rng(5), 5), THREADS);
    await steps(ort, 0, 3);
    fromOrt = await ort.exportState();
    await ort.dispose();
    const tfjs = new LocalTrainingModel(o, initialModelState(o, new Rng(5), 5));
    await steps(tfjs, 0, 3);
    fromTfjs = await tfjs.exportState();
    await tfjs.dispose();
  });

  test('the states hold everything a checkpoint keeps: moments, full pools, advanced pool streams', () => {
    for (const s of [fromOrt, fromTfjs]) {
      expect([s.adam!.G.step, s.adam!.D.step]).toEqual([3, 3]);
      expect([s.pools.A.images.length, s.pools.B.images.length]).toEqual([2, 2]);
      expect(s.poolRng).not.toEqual(poolStreams(5));
      expect(s.dropoutCounter).toBe(1 + 3 * 8);
    }
    // Pool draws depend on the random streams only, never on image values: both engines drew alike.
    expect(fromOrt.poolRng).toEqual(fromTfjs.poolRng);
  });

  test('onnxruntime → tfjs → export and tfjs → onnxruntime → export change no bit', async () => {
    const tfjs = new LocalTrainingModel(o, fromOrt);
    expect(stateDifferences(fromOrt, await tfjs.exportState())).toEqual([]);
    await tfjs.dispose();
    const ort = await OrtTrainingModel.open(o, fromTfjs, THREADS);
    expect(stateDifferences(fromTfjs, await ort.exportState())).toEqual([]);
    await ort.dispose();
  });

  test.each([
    ['saved by onnxruntime', () => fromOrt],
    ['saved by tfjs', () => fromTfjs],
  ])(
    'from a state %s, one more iteration agrees within 1e-4 on tfjs and on onnxruntime, on this thread and on 2 workers',
    async (_label, state) => {
      const tfjs = new LocalTrainingModel(o, state());
      const [lt] = await steps(tfjs, 3, 1);
      const st = await tfjs.exportState();
      const vt = (await tfjs.visuals())!;
      await tfjs.dispose();
      for (const [where, ort] of await ortModels(o, state())) {
        const [lo] = await steps(ort, 3, 1);
        const so = await ort.exportState();
        const vo = (await ort.visuals())!;
        await ort.dispose();
        expectStatesAlike(
          where,
          o,
          { losses: lt, state: st, visuals: vt },
          { losses: lo, state: so, visuals: vo },
          TOL,
        );
      }
    },
  );

  test('on two onnxruntime workers, each of four iterations agrees within 1e-4 with tfjs stepping from the same state', async () => {
    // From the second iteration on each worker steps with the generator the other updated.
    const ort = await ParallelTrainingModel.open(o, initialModelState(o, new Rng(5), 5), {
      engine: 'onnxruntime',
      threads: 1,
    });
    try {
      for (let i = 0; i < 4; i++) {
        const tfjs = new LocalTrainingModel(o, await ort.exportState());
        const [lt] = await steps(tfjs, i, 1);
        const [lo] = await steps(ort, i, 1);
        const t = { losses: lt, state: await tfjs.exportState(), visuals: (await tfjs.visuals())! };
        await tfjs.dispose();
        const x = { losses: lo, state: await ort.exportState(), visuals: (await ort.visuals())! };
        expectStatesAlike(`iteration ${i + 1}`, o, t, x, TOL);
      }
    } finally {
      await ort.dispose();
    }
  });
});

test('with batch norm, two iterations from one state agree on both engines within 1e-4, running statistics included', async () => {
  const o = options({ norm: 'batch' });
  const start = initialModelState(o, new Rng(7), 7);
  const models: TrainingModel[] = [new LocalTrainingModel(o, start), await OrtTrainingModel.open(o, start, THREADS)];
  const [lt, lo] = [await steps(models[0], 0, 2), await steps(models[1], 0, 2)];
  const [st, so] = [await models[0].exportState(), await models[1].exportState()];
  await Promise.all(models.map((m) => m.dispose()));
  for (const [i, l] of lt.entries())
    for (const k of LOSS_NAMES)
      expect([i, k, Math.abs(lo[i][k] - l[k]) / Math.max(1, Math.abs(l[k])) <= TOL]).toEqual([i, k, true]);
  let worst = { key: '', err: 0 };
  for (const net of NET_NAMES)
    for (const [key, t] of st.nets[net]) {
      const err = scaledMaxError(so.nets[net].get(key)!.data, t.data);
      if (err > worst.err) worst = { key: `${net}.${key}`, err };
    }
  expect(worst.err).toBeLessThanOrEqual(TOL);
  // Every network's running statistics moved, the discriminators' in the generator step too.
  const buffers = NET_NAMES.flatMap((net) =>
    [...st.nets[net].keys()].filter((k) => /running_(mean|var)$/.test(k)).map((k) => [net, k] as const),
  );
  expect(new Set(buffers.map(([net]) => net))).toEqual(new Set(NET_NAMES));
  for (const [net, k] of buffers)
    expect([net, k, sameBits(st.nets[net].get(k)!.data, start.nets[net].get(k)!.data)]).toEqual([net, k, false]);
});

test('with dropout, an iteration from one state gives the same losses and images on both engines: the same units dropped', async () => {
  const o = options({ no_dropout: false });
  const start = initialModelState(o, new Rng(7), 7);
  const run = async (model: TrainingModel) => {
    const [losses] = await steps(model, 0, 1);
    const visuals = (await model.visuals())!;
    await model.dispose();
    return { losses, visuals };
  };
  const t = await run(new LocalTrainingModel(o, start));
  for (const [where, ort] of await ortModels(o, start)) {
    const x = await run(ort);
    for (const k of LOSS_NAMES)
      expect([where, k, Math.abs(x.losses[k] - t.losses[k]) / Math.max(1, Math.abs(t.losses[k])) <= TOL]).toEqual([
        where,
        k,
        true,
      ]);
    for (const k of ['fake_A', 'fake_B', 'rec_A', 'rec_B'] as const)
      expect([where, k, scaledMaxError(x.visuals[k].data, t.visuals[k].data) <= TOL]).toEqual([where, k, true]);
  }
  // Control: other seeds (the next iteration's counter) drop other units and change the images.
  const other = await run(
    await OrtTrainingModel.open(o, { ...start, dropoutCounter: start.dropoutCounter + 8 }, THREADS),
  );
  expect(scaledMaxError(other.visuals.fake_B.data, t.visuals.fake_B.data)).toBeGreaterThan(100 * TOL);
});

test('dropout multipliers are the ones tf.dropout draws for the same seed, in NCHW', () => {
  const [n, c, h, w] = [2, 3, 4, 5];
  for (const [rate, seed] of [
    [0.5, 17],
    [0.3, 4],
  ]) {
    const nhwc = tf.tidy(() => tf.dropout(tf.ones([n, h, w, c]), rate, undefined, seed).dataSync() as Float32Array);
    const ours = dropoutMultiplier([n, c, h, w], rate, seed);
    const asNchw = new Float32Array(nhwc.length);
    for (let i = 0; i < n; i++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let ch = 0; ch < c; ch++) asNchw[((i * c + ch) * h + y) * w + x] = nhwc[((i * h + y) * w + x) * c + ch];
    expect(sameBits(ours, asNchw)).toBe(true);
    // Some kept, some dropped.
    expect(new Set(ours)).toEqual(new Set([0, Math.fround(1 / Math.fround(1 - rate))]));
  }
});

describe('un-cropped preprocessing: images of many sizes', () => {
  // 8 different sizes for real images, more with the pool handing back older fakes.
  const SIZES: [number, number][] = [32, 36, 40, 44].flatMap((h) => [
    [h, 32] as [number, number],
    [32, h + 4] as [number, number],
  ]);

  test(`each size gets its step sessions, at most ${MAX_SESSIONS} kept per step; each step is the tfjs engine's`, async () => {
    const o = options();
    const state = initialModelState(o, new Rng(9), 9);
    const logged: string[] = [];
    const ort = await OrtTrainingModel.open(o, state, THREADS, (m) => logged.push(m));
    const tfjs = new LocalTrainingModel(o, state);
    try {
      const seen: number[] = [];
      for (let i = 0; i < SIZES.length; i++) {
        // Each step from the same state on both engines: over several steps float noise, which Adam
        // normalises for parameters with tiny gradients, lets two runs drift apart beyond 1e-4.
        await tfjs.importState(await ort.exportState());
        const [lo] = await steps(ort, i, 1, [SIZES[i]]);
        const [lt] = await steps(tfjs, i, 1, [SIZES[i]]);
        for (const k of LOSS_NAMES)
          expect([i, k, Math.abs(lo[k] - lt[k]) / Math.max(1, Math.abs(lt[k])) <= TOL]).toEqual([i, k, true]);
        const loaded = ort.loadedSessions();
        seen.push(loaded.G);
        expect(loaded.G).toBeLessThanOrEqual(MAX_SESSIONS);
        expect(loaded.D).toBeLessThanOrEqual(MAX_SESSIONS);
      }
      expect(seen).toEqual([1, 2, 3, 4, 4, 4, 4, 4]);
      expect(logged).toEqual([expect.stringMatching(/^onnxruntime engine: more than 4 image sizes, .* --engine tfjs/)]);
      // The pools now hold fakes of earlier sizes, and a size seen before reuses its session.
      const shapes = (await ort.exportState()).pools.A.images.map((t) => `${t.shape}`);
      expect(shapes.every((s) => s === shapes[0])).toBe(false);
      await steps(ort, 100, 1, [SIZES[SIZES.length - 1]]);
      expect(ort.loadedSessions().G).toBe(MAX_SESSIONS);
    } finally {
      await ort.dispose();
      await tfjs.dispose();
    }
  });

  test('npm run train -- --preprocess none on a folder of differently sized images trains on onnxruntime (two workers)', async () => {
    const dataroot = path.join(root, 'sizes');
    const write = async (dir: string, i: number, w: number, h: number) => {
      const rng = new Rng(100 + i);
      const rgb = Buffer.from(Uint8Array.from({ length: w * h * 3 }, () => rng.int(256)));
      await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toFile(path.join(dir, `${i}.png`));
    };
    for (const [domain, sizes] of [
      [
        'trainA',
        [
          [32, 40],
          [40, 32],
          [36, 36],
        ],
      ],
      [
        'trainB',
        [
          [32, 32],
          [44, 36],
        ],
      ],
    ] as const) {
      mkdirSync(path.join(dataroot, domain), { recursive: true });
      for (const [i, [w, h]] of sizes.entries()) await write(path.join(dataroot, domain), i, w, h);
    }
    const o = parseTrainOptions({
      dataroot,
      name: 'sizes',
      checkpoints_dir: path.join(root, 'ck'),
      ...TINY_NETWORKS,
      preprocess: 'none',
      pool_size: 2,
      seed: 3,
      backend: 'wasm',
      engine: 'onnxruntime',
      threads: THREADS,
      workers: 2,
      max_iters: 5,
      print_freq: 1,
    });
    const lines: string[] = [];
    const r = await trainQuietly(o, (m) => lines.push(m));
    expect(r.itersRun).toBe(5);
    // Two workers of one thread each, each with its own sessions per size.
    expect(lines.join('\n')).toContain('onnxruntime engine, 2 worker threads × 1 thread each');
    expect(lines.filter((l) => /^\(epoch \d+, iter \d+\)/.test(l))).toHaveLength(5);
    const ck = await readTensorFile(path.join(root, 'ck', 'sizes', 'latest.ckpt'));
    const pooled = [...ck.tensors].filter(([k]) => k.startsWith('pool.')).map(([, t]) => `${t.shape}`);
    expect(new Set(pooled).size).toBeGreaterThan(1);
  });
});
