/**
 * `npm run gpu:check`: the GPU figures of README "GPU without CUDA" in one run, as JSON on stdout.
 *
 *   npm run gpu:check                     # everything (a few minutes on an H200)
 *   npm run gpu:check -- --quick          # fewer repetitions (about half the time)
 *   npm run gpu:check -- --parts ort      # some of: tfjs, ort, serve, train, scaling
 *
 * Without a WebGPU adapter it prints one JSON line saying why ({"webgpu": false, …}) and exits 0.
 * On a software adapter (lavapipe: a CPU emulating a GPU) every part runs at a tiny size, and the
 * output says that its figures mean nothing (`software_adapter`).
 * `--dry-run` runs every part on the CPU (wasm backend, CPU provider) with a tiny generator at 32²,
 * so that the script itself is tested where there is no GPU (tests/bench/gpuCheck.test.ts).
 * Otherwise each part runs in its own child process (a failing part is reported, the others still
 * run; tfjs's Dawn and onnxruntime's own Dawn never share a process):
 *   tfjs  — the trainer on --backend webgpu: full CycleGAN iterations at 256² (ngf 64, 9 blocks, basic
 *           D, batch 1, the official loss graph) with this project's forward-conv gradients, with tfjs's
 *           own gradient kernels, with losses read every iteration, with a larger submit batch, and
 *           with pool_size 0 (no read-back of the fakes); at 128²; G forward at batch 1 and 8.
 *   ort   — onnxruntime-node's WebGPU provider on the same generator: fp32/fp16 × NCHW/NHWC layout ×
 *           batch 1/8/16, graph capture at batch 1, and parity with the CPU provider.
 *   serve — bench/serve.ts: this project's server with EXECUTION_PROVIDERS=webgpu at 1 and 32 clients.
 *   train, scaling — the onnxruntime training engine on the GPU provider, and on every CPU core
 *           (bench/gpuTrainParts.ts).
 * Weights are random (the architecture, not the values, sets the time).
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { firstLine } from '../core/errorText';
import { probeWebGpu } from '../core/gpu/webgpuAdapter';
import { cpuScalingPart, ortTrainPart, type TrainPartConfig } from './gpuTrainParts';

const PARTS = ['tfjs', 'ort', 'serve', 'train', 'scaling'] as const;
type Part = (typeof PARTS)[number];
const ROOT = path.join(__dirname, '..');

const schema = z
  .object({
    quick: field.boolean().default(false).describe('fewer repetitions (about half the time)'),
    parts: field
      .list(PARTS)
      .default([...PARTS])
      .describe('comma-separated parts to run'),
    part: z.enum(PARTS).optional().describe('(internal) run one part in this process'),
    tiny: field.boolean().default(false).describe('(internal) the part runs at the software-adapter size'),
    part_timeout: field.int(1).default(420).describe('seconds each part may take'),
    dry_run: field
      .boolean()
      .default(false)
      .describe('run the parts on the CPU with a tiny generator (tests the script)'),
  })
  .strict();
type Options = z.output<typeof schema>;

/** What is measured: the official generator at 256² and 128², or (dry run) a tiny one on the CPU. */
const DRY = { dry: true, backend: 'wasm', provider: 'cpu', ngf: 4, blocks: 1, sizes: [32, 32], batches: [1, 2] };
const FULL = {
  dry: false,
  backend: 'webgpu',
  provider: 'webgpu',
  ngf: 64,
  blocks: 9,
  sizes: [256, 128],
  batches: [1, 8, 16],
};
/** A software adapter: the GPU paths at the dry run's size, so that they run at all in minutes. */
const TINY = { ...DRY, dry: false, backend: 'webgpu', provider: 'webgpu' };
const SOFTWARE_NOTE =
  'software WebGPU adapter (a CPU emulating a GPU): every part ran at a tiny size; the figures mean nothing';
let CFG = FULL;
let BIG = 256;
let SMALL = 128;
let NET_G = 'resnet_9blocks';

const log = (msg: string) => process.stderr.write(`[gpu:check] ${msg}\n`);
const round = (x: number, d = 1) => +x.toFixed(d);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// ---------------------------------------------------------------------------------------------
// tfjs on WebGPU (the trainer)

async function tfjsPart(quick: boolean) {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend, releaseBackend } = await import('../core/tf/backend');
  const { Rng } = await import('../core/rng');
  const { initialModelState } = await import('../train/model/modelState');
  const { LocalTrainingModel } = await import('../train/tfjs/localTrainingModel');
  const { generatorSpec } = await import('../core/arch/spec');
  const { TfNetwork } = await import('../train/tfjs/networks');
  const { initStateDict } = await import('../train/model/init');
  const { benchTrainingOptions } = await import('./networks');
  type Opts = ConstructorParameters<typeof LocalTrainingModel>[0];

  const backend = await initBackend(CFG.backend as 'webgpu' | 'wasm', log);
  const opts = (ngf: number): Opts => benchTrainingOptions(NET_G, ngf, CFG.dry ? 4 : 64);
  const reps = CFG.dry ? 1 : quick ? 3 : 6;

  /** Seconds per iteration as the trainer runs them: losses not read back, one wait at the end. */
  type Variant = { gradients?: 'tfjs'; submitBatch?: number; readLosses?: boolean; poolSize?: number };
  async function iteration(size: number, variant: Variant) {
    const o = { ...opts(CFG.ngf), pool_size: variant.poolSize ?? 50 };
    const model = new LocalTrainingModel(o, initialModelState(o, new Rng(2), 2));
    const rng = new Rng(3);
    const image = () => Float32Array.from({ length: size * size * 3 }, () => 2 * rng.next() - 1);
    const shape: [number, number, number, number] = [1, size, size, 3];
    const flag = 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE';
    const submitBefore = CFG.dry ? undefined : tf.env().get(flag);
    if (variant.gradients) process.env.CYCLEGAN_WEBGPU_GRADIENTS = variant.gradients;
    if (variant.submitBatch) tf.env().set(flag, variant.submitBatch);
    try {
      const batches = Array.from({ length: reps + 2 }, () => [image(), image()]);
      const t0 = performance.now();
      for (let i = 0; i < 2; i++) await model.optimize(batches[i][0], shape, batches[i][1], shape); // shaders, pools
      const warmS = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      for (let i = 2; i < reps + 2; i++) {
        const [a, b] = batches[i];
        if (variant.readLosses || i === reps + 1) await model.optimize(a, shape, b, shape);
        else await model.step(a, shape, b, shape);
      }
      return { iteration_s: round((performance.now() - t1) / 1000 / reps, 3), first_two_s: round(warmS, 1) };
    } finally {
      delete process.env.CYCLEGAN_WEBGPU_GRADIENTS;
      if (submitBefore !== undefined) tf.env().set(flag, submitBefore);
      await model.dispose();
    }
  }

  async function generator(size: number, batch: number, train: boolean) {
    const spec = generatorSpec({
      netG: NET_G,
      inputNc: 3,
      outputNc: 3,
      ngf: CFG.ngf,
      norm: 'instance',
      useDropout: false,
    });
    const net = new TfNetwork(spec, 'G', initStateDict(spec, 'normal', 0.02, new Rng(1)));
    const x = tf.randomUniform([batch, size, size, 3], -1, 1) as import('@tensorflow/tfjs').Tensor4D;
    const vars = net.trainableVariables();
    const once = async () => {
      const t0 = performance.now();
      if (train) {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(x, { training: true }))), vars);
        await value.data();
        tf.dispose([value, ...Object.values(grads)]);
      } else {
        const y = tf.tidy(() => net.apply(x, { training: false }));
        await y.data();
        y.dispose();
      }
      return performance.now() - t0;
    };
    await once();
    await once();
    const ms: number[] = [];
    for (let i = 0; i < reps; i++) ms.push(await once());
    x.dispose();
    net.dispose();
    return round(median(ms));
  }

  const out: Record<string, unknown> = { backend: backend.reason };
  const step = async (name: string, f: () => Promise<unknown>) => {
    log(`tfjs: ${name}`);
    try {
      out[name] = await f();
    } catch (e) {
      out[name] = { error: firstLine(e) };
    }
  };
  await step(`iteration_${BIG}`, () => iteration(BIG, {}));
  await step(`iteration_${BIG}_losses_read_every_iteration`, () => iteration(BIG, { readLosses: true }));
  await step(`iteration_${BIG}_tfjs_gradient_kernels`, () => iteration(BIG, { gradients: 'tfjs' }));
  if (!CFG.dry) await step(`iteration_${BIG}_submit_batch_64`, () => iteration(BIG, { submitBatch: 64 }));
  // pool_size 0 skips the image pool's read-back of the fakes: the cost of the last per-iteration wait.
  await step(`iteration_${BIG}_pool_size_0`, () => iteration(BIG, { poolSize: 0 }));
  if (!CFG.dry) await step(`iteration_${SMALL}`, () => iteration(SMALL, {}));
  await step(`G_forward_${BIG}_batch1_ms`, () => generator(BIG, 1, false));
  await step(`G_forward_${BIG}_batch8_ms`, () => generator(BIG, 8, false));
  await step(`G_forward_backward_${BIG}_ms`, () => generator(BIG, 1, true));
  releaseBackend();
  return out;
}

// ---------------------------------------------------------------------------------------------
// onnxruntime-node's WebGPU provider

async function ortPart(quick: boolean) {
  const { createSession, float32Tensor, inferenceSessionOptions } = await import('../core/onnx/ortRuntime');
  const { buildGeneratorOnnx } = await import('../export/onnxBuilder');
  const { generatorSpec } = await import('../core/arch/spec');
  const { randomGeneratorWeights } = await import('../tests/helpers/tinyModel');

  const { fromNchw } = await import('../inference/postprocess');
  type Settings = Parameters<typeof inferenceSessionOptions>[0];

  const g = { netG: NET_G, inputNc: 3, outputNc: 3, ngf: CFG.ngf, norm: 'instance', useDropout: false } as const;
  const weights = randomGeneratorWeights(g, 5);
  const models = {
    fp32: buildGeneratorOnnx(generatorSpec(g), weights),
    fp16: buildGeneratorOnnx(generatorSpec(g), weights, { fp16: true }),
  };
  const base: Settings = {
    intraOpThreads: 0,
    interOpThreads: 0,
    graphOptimization: 'all',
    cpuMemArena: true,
    memPattern: true,
  };
  const seconds = CFG.dry ? 0.2 : quick ? 1 : 3;
  const size = BIG;
  const input = (batch: number) => {
    const dims = [batch, 3, size, size];
    const data = new Float32Array(dims.reduce((a, b) => a * b));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 0.9;
    return float32Tensor(data, dims);
  };
  const open = (model: Uint8Array, provider: 'webgpu' | 'cpu', s: Partial<Settings>) =>
    createSession(model, inferenceSessionOptions({ ...base, ...s }, [provider === 'webgpu' ? gpu : provider]));
  const gpu = CFG.provider as 'webgpu';
  const run = async (
    session: import('../core/onnx/ortRuntime').OrtSession,
    x: import('../core/onnx/ortRuntime').OrtTensor,
  ) => (await session.run({ input: x })).output.data as Float32Array;

  async function timing(session: import('../core/onnx/ortRuntime').OrtSession, batch: number) {
    const x = input(batch);
    await run(session, x);
    await run(session, x);
    const ms: number[] = [];
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end || ms.length < 3) {
      const t0 = performance.now();
      await run(session, x);
      ms.push(performance.now() - t0);
    }
    const p50 = median(ms);
    return { ms_p50: round(p50), images_per_s: round((batch * 1000) / p50) };
  }

  const out: Record<string, unknown> = {};
  const cpu = await open(models.fp32, 'cpu', {});
  const x1 = input(1);
  const reference = await run(cpu, x1);
  await cpu.release();
  const grey = (d: Float32Array) => fromNchw(d, [1, 3, size, size], { mean: [0.5], std: [0.5] }).data;
  const refGrey = grey(reference);

  for (const precision of ['fp32', 'fp16'] as const) {
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const key = `${precision}_${layout}`;
      log(`ort: ${key}`);
      try {
        const session = await open(models[precision], 'webgpu', { webgpuLayout: layout });
        const y = await run(session, x1);
        let maxAbs = 0;
        let maxGrey = 0;
        const yg = grey(y);
        for (let i = 0; i < y.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(y[i] - reference[i]));
          maxGrey = Math.max(maxGrey, Math.abs(yg[i] - refGrey[i]));
        }
        const row: Record<string, unknown> = {
          parity_vs_cpu: { max_abs_diff: +maxAbs.toExponential(2), max_grey_levels: maxGrey },
        };
        for (const batch of CFG.batches) row[`batch_${batch}`] = await timing(session, batch);
        await session.release();
        out[key] = row;
      } catch (e) {
        out[key] = { error: firstLine(e) };
      }
    }
  }
  log('ort: graph capture, fp32 batch 1');
  try {
    const session = await open(models.fp32, 'webgpu', { webgpuGraphCapture: true });
    out.fp32_graph_capture_batch_1 = await timing(session, 1);
    await session.release();
  } catch (e) {
    out.fp32_graph_capture_batch_1 = { error: firstLine(e) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the server (bench/serve.ts with the WebGPU provider)

function servePart(quick: boolean) {
  const args = ['--import', 'tsx', 'bench/serve.ts', '--providers', CFG.provider, '--concurrency', '1,32'];
  args.push('--duration', CFG.dry ? '1' : quick ? '6' : '12', '--max-batch', '8', '--skip-bare');
  args.push('--size', String(BIG), '--ngf', String(CFG.ngf), '--blocks', String(CFG.blocks));
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bench/serve.ts exited ${r.status}: ${lastLines(r.stderr, 3)}`);
  const res = JSON.parse(r.stdout) as { http: unknown; settings: unknown };
  return { settings: res.settings, http: res.http };
}

// ---------------------------------------------------------------------------------------------

function lastLines(s: string | null, n: number): string {
  return (s ?? '').trim().split('\n').slice(-n).join(' | ');
}

/** The training parts' configuration: the official networks, or tiny ones (dry run, software adapter). */
function trainConfig(quick: boolean): TrainPartConfig {
  const small = CFG !== FULL;
  return {
    device: CFG.dry ? 'cpu' : 'webgpu',
    netG: NET_G,
    ngf: CFG.ngf,
    ndf: small ? 4 : 64,
    sizes: small ? [BIG] : [BIG, SMALL],
    reps: small ? 1 : quick ? 3 : 6,
    scalingSize: small ? '64' : '128',
  };
}

async function runPart(part: Part, quick: boolean, timeoutS: number): Promise<unknown> {
  if (part === 'tfjs') return tfjsPart(quick);
  if (part === 'ort') return ortPart(quick);
  if (part === 'train') return ortTrainPart(trainConfig(quick), log);
  if (part === 'scaling') return cpuScalingPart(trainConfig(quick), log, timeoutS);
  return servePart(quick);
}

async function main(o: Options): Promise<number> {
  const setConfig = (c: typeof FULL) => {
    CFG = c;
    [BIG, SMALL] = CFG.sizes;
    NET_G = `resnet_${CFG.blocks}blocks`;
  };
  setConfig(o.dry_run ? DRY : o.tiny ? TINY : FULL);
  const quick = o.quick;
  if (o.part) {
    const result = await runPart(o.part, quick, o.part_timeout);
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  }
  const parts = o.parts;
  const host = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, node: process.version };
  const probe = CFG.dry ? { found: true as const, adapter: null } : probeWebGpu();
  if (!probe.found) {
    process.stdout.write(JSON.stringify({ webgpu: false, reason: probe.reason, host, measured: {} }) + '\n');
    return 0;
  }
  log(`adapter: ${JSON.stringify(probe.adapter)}`);
  const software = 'adapterClass' in probe && probe.adapterClass === 'software';
  if (software) {
    setConfig(TINY);
    log(SOFTWARE_NOTE);
  }
  const measured: Record<string, unknown> = {};
  for (const part of parts) {
    const t0 = performance.now();
    const args = ['--import', 'tsx', __filename, '--part', part, ...(quick ? ['--quick'] : [])];
    if (CFG.dry) args.push('--dry-run');
    if (software) args.push('--tiny');
    // The scaling part runs three benchmarks, each within the part's time.
    const timeout = (part === 'scaling' ? 3 : 1) * o.part_timeout * 1000;
    args.push('--part-timeout', String(o.part_timeout));
    const r = spawnSync(process.execPath, args, {
      cwd: ROOT,
      encoding: 'utf8',
      timeout,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    process.stderr.write(r.stderr ?? '');
    const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    try {
      if (r.status !== 0) throw new Error();
      measured[part] = JSON.parse(line);
    } catch {
      const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
      measured[part] = { error: `${why}: ${lastLines(r.stderr, 3)}` };
    }
    log(`${part}: ${round((performance.now() - t0) / 1000)} s`);
  }
  const result = {
    webgpu: !CFG.dry,
    dry_run: CFG.dry,
    ...(software && { software_adapter: SOFTWARE_NOTE }),
    adapter: probe.adapter,
    host,
    quick,
    measured,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  return 0;
}

runCommand(
  {
    name: 'gpu:check',
    program: 'npm run gpu:check --',
    summary:
      'The GPU figures (tfjs on WebGPU, onnxruntime WebGPU, the server, the onnxruntime training engine on the GPU ' +
      'and its CPU scaling) as JSON; one line when no adapter.',
    schema,
    placeholders: { parts: '<list>', part: '<name>' },
    exit: 'immediately', // a live Dawn device would otherwise keep the process alive
  },
  main,
);
