/**
 * `npm run bench` part 1: forward and training-step (forward + backward) time of G and D, and a
 * full CycleGAN iteration on 1 and 2 worker threads (train/parallel; not on the multi-threaded
 * tensorflow backend), at 64×64 (ngf 32, 6 blocks) and 128×128 (ngf 64, 9 blocks), on each tfjs
 * backend that loads. Prints JSON. GFLOP/s counts convolution MACs × 2 from the spec.
 *
 *   npx tsx bench/networks.ts [--backends wasm,cpu] [--reps 5] [--sizes 64,128] [--workers 1,2] [--only cycle]
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { BACKENDS } from '../core/config/options';
import { generatorSpec, discriminatorSpec, type NetworkSpec } from '../core/arch/spec';
import { forwardMacs } from '../core/arch/flops';
import { initBackend, type BackendChoice } from '../core/tf/backend';
import { Rng } from '../core/rng';
import { TfNetwork } from '../train/networks';
import { initStateDict } from '../train/init';
import { initialModelState, type TrainingModelOptions } from '../train/modelState';
import { openTrainingModel } from '../train/trainingModel';
import { firstLine } from '../core/errorText';

export interface Config {
  size: number;
  ngf: number;
  nBlocks: number;
  ndf: number;
}

export const CONFIGS: Config[] = [
  { size: 64, ngf: 32, nBlocks: 6, ndf: 64 },
  { size: 128, ngf: 64, nBlocks: 9, ndf: 64 },
];

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

/** Median seconds of one full iteration (G step, D step) through the trainer's model on `workers` threads. */
/** The official CycleGAN recipe (LSGAN, λ 10/10, identity 0.5, Adam 2e-4/0.5, pool 50) at a benchmark size. */
export function benchTrainingOptions(netG: string, ngf: number, ndf: number): TrainingModelOptions {
  return {
    netG,
    netD: 'basic',
    n_layers_D: 3,
    ngf,
    ndf,
    norm: 'instance',
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

export async function cycleIteration(c: Config, reps: number, workers: 1 | 2) {
  const opts = benchTrainingOptions(`resnet_${c.nBlocks}blocks`, c.ngf, c.ndf);
  const model = await openTrainingModel(opts, initialModelState(opts, new Rng(2), 2), {
    engine: 'tfjs',
    backend: tf.getBackend(),
    workers,
  });
  const rng = new Rng(3);
  const image = () => Float32Array.from({ length: c.size * c.size * 3 }, () => 2 * rng.next() - 1);
  const shape: [number, number, number, number] = [1, c.size, c.size, 3];
  const samples: number[] = [];
  try {
    for (let i = 0; i <= reps; i++) {
      const [a, b] = [image(), image()];
      const t0 = performance.now();
      await model.optimize(a, shape, b, shape);
      if (i > 0) samples.push(performance.now() - t0); // the first is warm-up
    }
  } finally {
    await model.dispose();
  }
  return +(median(samples) / 1000).toFixed(3);
}

export async function benchNetworks(
  backends: BackendChoice[],
  reps: number,
  sizes: number[],
  workers: (1 | 2)[] = [1, 2],
  only?: 'cycle',
) {
  const results: Record<string, unknown>[] = [];
  for (const choice of backends) {
    let backend;
    try {
      backend = await initBackend(choice);
    } catch (e) {
      results.push({ backend: choice, error: firstLine(e) });
      continue;
    }
    for (const c of CONFIGS.filter((x) => sizes.includes(x.size))) {
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
      const cycleReps = Math.max(2, Math.ceil(reps / 2));
      const perWorkers: Record<string, number> = {};
      for (const w of backend.name === 'tensorflow' ? [1 as const] : workers) {
        perWorkers[`workers_${w}`] = await cycleIteration(c, cycleReps, w);
      }
      row.cycle_iteration_s = perWorkers;
      if (perWorkers.workers_1 && perWorkers.workers_2) {
        row.parallel_speedup = +(perWorkers.workers_1 / perWorkers.workers_2).toFixed(2);
      }
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
      summary: 'Forward / training-step times and GFLOP/s of G and D and a full CycleGAN iteration; prints JSON.',
      schema: z
        .object({
          backends: field.list(BACKENDS).default(['wasm']).describe('comma-separated backends'),
          reps: field.int(1).default(5).describe('timed repetitions (median reported)'),
          sizes: field.intList(1).default([64, 128]).describe('crop sizes to run'),
          workers: z
            .preprocess(
              (v) => (typeof v === 'string' ? v.split(',').map(Number) : v),
              z.array(z.union([z.literal(1), z.literal(2)]), { errorMap: () => ({ message: 'must be 1, 2 or 1,2' }) }),
            )
            .default([1, 2])
            .describe('worker-thread counts for the full iteration'),
          only: field.enum(['cycle']).optional().describe('only the full iteration'),
        })
        .strict(),
      placeholders: { backends: '<list>', sizes: '<list>', workers: '<list>' },
      exit: 'immediately',
    },
    async (o) => {
      const r = await benchNetworks(o.backends, o.reps, o.sizes, o.workers, o.only);
      const threads = tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT') ?? null;
      console.log(JSON.stringify({ networks: r, threads }, null, 2));
    },
  );
}
