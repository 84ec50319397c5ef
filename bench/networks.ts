/**
 * `npm run bench` part 1: forward and training-step (forward + backward) time of G and D, and a
 * full CycleGAN iteration, at 64×64 (ngf 32, 6 blocks) and 128×128 (ngf 64, 9 blocks), on each
 * tfjs backend that loads. Prints JSON. GFLOP/s counts convolution MACs × 2 from the spec.
 *
 *   npx tsx bench/networks.ts [--backends wasm,cpu] [--reps 5] [--sizes 64,128]
 */
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { generatorSpec, discriminatorSpec, type NetworkSpec } from '../core/arch/spec';
import { forwardMacs } from '../core/arch/flops';
import { initBackend, type BackendChoice } from '../core/tf/backend';
import { Rng } from '../core/rng';
import { TfNetwork } from '../train/networks';
import { initStateDict } from '../train/init';
import { CycleGanModel, type ModelOptions } from '../train/cycleGanModel';

interface Config {
  size: number;
  ngf: number;
  nBlocks: number;
  ndf: number;
}

const CONFIGS: Config[] = [
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

async function cycleIteration(c: Config, reps: number) {
  const opts: ModelOptions = {
    netG: `resnet_${c.nBlocks}blocks`,
    netD: 'basic',
    n_layers_D: 3,
    ngf: c.ngf,
    ndf: c.ndf,
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
  };
  const pass = { query: (b: Float32Array) => b };
  const model = new CycleGanModel(opts, { rng: new Rng(2) }, { A: pass, B: pass });
  const a = tf.randomUniform([1, c.size, c.size, 3], -1, 1) as tf.Tensor4D;
  const b = tf.randomUniform([1, c.size, c.size, 3], -1, 1) as tf.Tensor4D;
  const ms = await time(() => {
    model.optimize(a, b);
  }, reps);
  model.dispose();
  a.dispose();
  b.dispose();
  return +(ms / 1000).toFixed(3);
}

export async function benchNetworks(backends: BackendChoice[], reps: number, sizes: number[]) {
  const results: Record<string, unknown>[] = [];
  for (const choice of backends) {
    let backend;
    try {
      backend = await initBackend(choice);
    } catch (e) {
      results.push({ backend: choice, error: (e as Error).message.split('\n')[0] });
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
      row.G = await netFigures(g, c.size, reps);
      row.D = await netFigures(d, c.size, reps);
      row.cycle_iteration_s = await cycleIteration(c, Math.max(2, Math.ceil(reps / 2)));
      results.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
  return results;
}

if (require.main === module) {
  const cmd = new Command()
    .option('--backends <list>', 'comma-separated backends', 'wasm')
    .option('--reps <n>', 'timed repetitions (median reported)', '5')
    .option('--sizes <list>', 'crop sizes to run', '64,128')
    .parse();
  const o = cmd.opts<{ backends: string; reps: string; sizes: string }>();
  benchNetworks(o.backends.split(',') as BackendChoice[], Number(o.reps), o.sizes.split(',').map(Number)).then(
    (r) =>
      console.log(
        JSON.stringify({ networks: r, threads: tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT') ?? null }, null, 2),
      ),
    (e) => {
      console.error(`error: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
