/**
 * `npm run bench` part 1, at 64×64 (ngf 32, 6 blocks) and 128×128 (ngf 64, 9 blocks), per engine:
 *   onnxruntime  a full CycleGAN iteration on 1 and on every core's intra-op threads (train/onnx);
 *   tfjs         forward and training-step (forward + backward) time of G and D, and a full
 *                iteration on 1 and 2 worker threads (train/parallel; not on the multi-threaded
 *                tensorflow backend), on each tfjs backend that loads.
 * Prints JSON. GFLOP/s counts convolution MACs × 2 from the spec.
 *
 *   npx tsx bench/networks.ts [--engine onnxruntime|tfjs|both] [--backends wasm,cpu] [--reps 5]
 *                             [--sizes 64,128] [--workers 1,2] [--only cycle]
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { BACKENDS } from '../core/config/options';
import { generatorSpec, discriminatorSpec, type NetworkSpec } from '../core/arch/spec';
import { forwardMacs } from '../core/arch/flops';
import { initBackend, type BackendChoice } from '../core/tf/backend';
import { Rng } from '../core/rng';
import { TfNetwork } from '../train/tfjs/networks';
import { initStateDict } from '../train/model/init';
import { initialModelState, type TrainingModelOptions } from '../train/model/modelState';
import { describeEngine, openTrainingModel, resolveEngine, type EnginePlan } from '../train/engines';
import { firstLine } from '../core/errorText';

export const ENGINES = ['onnxruntime', 'tfjs'] as const;
export type Engine = (typeof ENGINES)[number];

/** The bench's `--engine` choice: one engine or both (tfjs after onnxruntime). */
export const ENGINE_CHOICES = [...ENGINES, 'both'] as const;
export function enginesOf(choice: (typeof ENGINE_CHOICES)[number]): Engine[] {
  return choice === 'both' ? [...ENGINES] : [choice];
}

export interface Config {
  size: number;
  ngf: number;
  nBlocks: number;
  ndf: number;
  /** Normalisation layers (default instance, the official recipe's). */
  norm?: 'instance' | 'batch';
}

export const CONFIGS: Config[] = [
  { size: 64, ngf: 32, nBlocks: 6, ndf: 64 },
  { size: 128, ngf: 64, nBlocks: 9, ndf: 64 },
  // The official crop and networks; measured only when asked for (`--sizes 256`): seconds per step.
  { size: 256, ngf: 64, nBlocks: 9, ndf: 64 },
];

/** The `--size` option of the profiling scripts: one of CONFIGS. */
export const configSizeField = () =>
  field
    .enum(['64', '128', '256'] as const)
    .default('64')
    .describe('64 (ngf 32, 6 blocks), 128 or 256 (ngf 64, 9 blocks)');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn: () => tf.Tensor | tf.Tensor[] | void, reps: number): Promise<number> {
  const run = async () => {
    const t0 = performance.now();
    const r = fn();
    const ts = r === undefined ? [] : Array.isArray(r) ? r : [r];
    for (const t of ts) await t.data(); // wait for the backend to finish
    tf.dispose(ts);
    return performance.now() - t0;
  };
  await run(); // warm-up: kernel compilation, memory pools
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) samples.push(await run());
  return median(samples);
}

async function netFigures(spec: NetworkSpec, size: number, reps: number) {
  const net = new TfNetwork(spec, 'bench', initStateDict(spec, 'normal', 0.02, new Rng(1)));
  const x = tf.randomUniform([1, size, size, spec.inputNc], -1, 1) as tf.Tensor4D;
  const vars = net.trainableVariables();
  const forwardMs = await time(() => tf.tidy(() => net.apply(x, { training: true })), reps);
  const stepMs = await time(() => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(x, { training: true }))), vars);
    return [value, ...Object.values(grads)];
  }, reps);
  const gflop = (2 * forwardMacs(spec, size, size)) / 1e9;
  x.dispose();
  net.dispose();
  return {
    forward_ms: +forwardMs.toFixed(1),
    train_step_ms: +stepMs.toFixed(1),
    step_over_forward: +(stepMs / forwardMs).toFixed(2),
    forward_gflop: +gflop.toFixed(3),
    forward_gflops_per_s: +(gflop / (forwardMs / 1000)).toFixed(1),
    // Backward ≈ 2× forward FLOPs (input and weight gradients).
    train_step_gflops_per_s: +((3 * gflop) / (stepMs / 1000)).toFixed(1),
  };
}

/** The official CycleGAN recipe (LSGAN, λ 10/10, identity 0.5, Adam 2e-4/0.5, pool 50) at a benchmark size. */
export function benchTrainingOptions(
  netG: string,
  ngf: number,
  ndf: number,
  norm: 'instance' | 'batch' = 'instance',
): TrainingModelOptions {
  return {
    netG,
    netD: 'basic',
    n_layers_D: 3,
    ngf,
    ndf,
    norm,
    init_type: 'normal',
    init_gain: 0.02,
    input_nc: 3,
    output_nc: 3,
    no_dropout: true,
    gan_mode: 'lsgan',
    lambda_A: 10,
    lambda_B: 10,
    lambda_identity: 0.5,
    lr: 2e-4,
    beta1: 0.5,
    pool_size: 50,
  };
}

function configOptions(c: Config): TrainingModelOptions {
  return benchTrainingOptions(`resnet_${c.nBlocks}blocks`, c.ngf, c.ndf, c.norm);
}

/**
 * What `npm run train --engine <engine>` runs on `threads` cores, decided by the trainer's own
 * resolver: onnxruntime with `--threads threads`; tfjs with `--workers 2` from two threads on
 * (its XNNPACK threads per worker follow the machine, see describeEngine).
 */
export function benchPlan(
  c: Config,
  engine: Engine,
  threads: number,
  backend = 'wasm',
  workers: 1 | 2 | 'auto' = 'auto',
): EnginePlan {
  const given = engine === 'onnxruntime' ? { threads, workers } : { workers: threads >= 2 ? 2 : 1 };
  return resolveEngine({ ...configOptions(c), engine, ...given }, backend);
}

/** The plan as reported beside a figure: its fields and the trainer's start-up wording. */
export function planReport(p: EnginePlan) {
  return { ...p, description: describeEngine(p) };
}

/** Median seconds of one full iteration (G step, D step) through the training model `plan` opens. */
export async function cycleIteration(c: Config, reps: number, plan: EnginePlan) {
  const opts = configOptions(c);
  const model = await openTrainingModel(opts, initialModelState(opts, new Rng(2), 2), plan);
  const rng = new Rng(3);
  const image = () => Float32Array.from({ length: c.size * c.size * 3 }, () => 2 * rng.next() - 1);
  const shape: [number, number, number, number] = [1, c.size, c.size, 3];
  const samples: number[] = [];
  try {
    for (let i = 0; i <= reps; i++) {
      const [a, b] = [image(), image()];
      const t0 = performance.now();
      await model.optimize(a, shape, b, shape);
      if (i > 0) samples.push(performance.now() - t0); // the first is warm-up (and builds onnxruntime's graphs)
    }
  } finally {
    await model.dispose();
  }
  return +(median(samples) / 1000).toFixed(3);
}

/** Median seconds of a full iteration with each of `plans`, and the speed-up of the last over the first. */
async function cycleFigures(c: Config, reps: number, plans: EnginePlan[], key: (p: EnginePlan) => string) {
  const perPlan: Record<string, number> = {};
  for (const p of plans) perPlan[key(p)] = await cycleIteration(c, reps, p);
  const s = Object.values(perPlan);
  return {
    cycle_iteration_s: perPlan,
    ...(s.length > 1 ? { parallel_speedup: +(s[0] / s[s.length - 1]).toFixed(2) } : {}),
  };
}

export async function benchNetworks(
  engines: Engine[],
  backends: BackendChoice[],
  reps: number,
  sizes: number[],
  workers: (1 | 2)[] = [1, 2],
  only?: 'cycle',
) {
  const results: Record<string, unknown>[] = [];
  const configs = CONFIGS.filter((x) => sizes.includes(x.size));
  const cycleReps = Math.max(2, Math.ceil(reps / 2));
  const cores = os.availableParallelism();
  if (engines.includes('onnxruntime')) {
    for (const c of configs) {
      const plans = [...new Set([1, cores])].map((t) => benchPlan(c, 'onnxruntime', t));
      const row = {
        engine: 'onnxruntime',
        size: c.size,
        ngf: c.ngf,
        n_blocks: c.nBlocks,
        ndf: c.ndf,
        ...(await cycleFigures(c, cycleReps, plans, (p) => `threads_${(p as { threads: number }).threads}`)),
      };
      results.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
  if (!engines.includes('tfjs')) return results;
  for (const choice of backends) {
    let backend;
    try {
      backend = await initBackend(choice);
    } catch (e) {
      results.push({ engine: 'tfjs', backend: choice, error: firstLine(e) });
      continue;
    }
    for (const c of configs) {
      const g = generatorSpec({
        netG: `resnet_${c.nBlocks}blocks`,
        inputNc: 3,
        outputNc: 3,
        ngf: c.ngf,
        norm: 'instance',
        useDropout: false,
      });
      const d = discriminatorSpec({ netD: 'basic', inputNc: 3, ndf: c.ndf, nLayersD: 3, norm: 'instance' });
      const row: Record<string, unknown> = {
        engine: 'tfjs',
        backend: backend.name,
        size: c.size,
        ngf: c.ngf,
        n_blocks: c.nBlocks,
        ndf: c.ndf,
      };
      if (only !== 'cycle') {
        row.G = await netFigures(g, c.size, reps);
        row.D = await netFigures(d, c.size, reps);
      }
      // `--workers 2` shares every core (XNNPACK on half each).
      const plans = (backend.name === 'tensorflow' ? [1] : workers).map((w) => benchPlan(c, 'tfjs', w, backend.name));
      Object.assign(
        row,
        await cycleFigures(c, cycleReps, plans, (p) => `workers_${(p as { workers: number }).workers}`),
      );
      results.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
  return results;
}

if (require.main === module) {
  runCommand(
    {
      name: 'bench/networks',
      program: 'npx tsx bench/networks.ts',
      summary:
        'A full CycleGAN iteration per engine and thread count; for tfjs also forward / training-step times ' +
        'and GFLOP/s of G and D; prints JSON.',
      schema: z
        .object({
          engine: field.enum(ENGINE_CHOICES).default('onnxruntime').describe('training engine(s) to measure'),
          backends: field.list(BACKENDS).default(['wasm']).describe('tfjs: comma-separated backends'),
          reps: field.int(1).default(5).describe('timed repetitions (median reported)'),
          sizes: field.intList(1).default([64, 128]).describe('crop sizes to run'),
          workers: z
            .preprocess(
              (v) => (typeof v === 'string' ? v.split(',').map(Number) : v),
              z.array(z.union([z.literal(1), z.literal(2)]), { errorMap: () => ({ message: 'must be 1, 2 or 1,2' }) }),
            )
            .default([1, 2])
            .describe('tfjs: worker-thread counts for the full iteration'),
          only: field.enum(['cycle']).optional().describe('tfjs: only the full iteration'),
        })
        .strict(),
      placeholders: { backends: '<list>', sizes: '<list>', workers: '<list>' },
      exit: 'immediately',
    },
    async (o) => {
      const engines = enginesOf(o.engine);
      const r = await benchNetworks(engines, o.backends, o.reps, o.sizes, o.workers, o.only);
      const threads = engines.includes('tfjs') ? (tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT') ?? null) : undefined;
      console.log(JSON.stringify({ networks: r, threads }, null, 2));
    },
  );
}
