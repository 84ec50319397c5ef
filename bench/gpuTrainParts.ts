/**
 * The training parts of `npm run gpu:check` (bench/gpuCheck.ts), each run in a child process of its own:
 *   train   — the onnxruntime engine's full CycleGAN iteration (`--device webgpu`, the step graphs of
 *             `npm run train`) at the official 256² (ResNet-9, ngf 64, basic D, batch 1) and 128²:
 *             seconds per iteration, the first two (session loading, shader compilation), and the
 *             bytes crossing between host and device per iteration.
 *   scaling — the same engine on the CPU: bench/ortScaling.ts fitted on 1 and every core, and
 *             bench/cycleIteration.ts with --workers 1 and 2 on every core (the crossover).
 * Weights are random (the architecture, not the values, sets the time).
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrainingDevice } from '../core/config/options';

/** What a part measures: the official networks, or (software adapter, dry run) tiny ones. */
export interface TrainPartConfig {
  device: TrainingDevice;
  netG: string;
  ngf: number;
  ndf: number;
  sizes: number[];
  reps: number;
  /** bench/ortScaling.ts and bench/cycleIteration.ts configuration size (64, 128 or 256). */
  scalingSize: '64' | '128' | '256';
}

const ROOT = path.join(__dirname, '..');
const round = (x: number, d = 3) => +x.toFixed(d);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function ortTrainPart(c: TrainPartConfig, log: (m: string) => void): Promise<Record<string, unknown>> {
  const { parseTrainOptions } = await import('../train/trainOptions');
  const { OrtTrainingModel } = await import('../train/onnx/ortTrainingModel');
  const { initialModelState } = await import('../train/model/modelState');
  const { Rng } = await import('../core/rng');
  const out: Record<string, unknown> = { device: c.device, netG: c.netG, ngf: c.ngf };
  for (const size of c.sizes) {
    log(`train: ${c.device} ${c.netG} ngf ${c.ngf} at ${size}²`);
    const o = parseTrainOptions({
      dataroot: ROOT,
      netG: c.netG,
      ngf: c.ngf,
      ndf: c.ndf,
      load_size: size,
      crop_size: size,
      seed: 1,
    });
    const rng = new Rng(3);
    const image = () => Float32Array.from({ length: size * size * 3 }, () => 2 * rng.next() - 1);
    const shape: [number, number, number, number] = [1, size, size, 3];
    const model = await OrtTrainingModel.open(
      o,
      initialModelState(o, new Rng(2), 2),
      undefined,
      log,
      undefined,
      c.device,
    );
    try {
      const t0 = performance.now();
      for (let i = 0; i < 2; i++) await model.optimize(image(), shape, image(), shape);
      const firstTwo = (performance.now() - t0) / 1000;
      const before = { ...model.transferBytes };
      const s: number[] = [];
      for (let i = 0; i < c.reps; i++) {
        const t = performance.now();
        await model.optimize(image(), shape, image(), shape);
        s.push((performance.now() - t) / 1000);
      }
      const perIter = (k: 'toDevice' | 'fromDevice') => Math.round((model.transferBytes[k] - before[k]) / c.reps);
      out[`iteration_${size}`] = {
        iteration_s: round(median(s)),
        first_two_s: round(firstTwo, 1),
        G_step_ms: round(model.lastRunMs.G, 1),
        D_step_ms: round(model.lastRunMs.D, 1),
        bytes_to_device_per_iteration: perIter('toDevice'),
        bytes_from_device_per_iteration: perIter('fromDevice'),
      };
    } catch (e) {
      out[`iteration_${size}`] = { error: String(e instanceof Error ? e.message : e).split('\n')[0] };
    } finally {
      await model.dispose();
    }
  }
  return out;
}

function benchJson(script: string, args: string[], timeoutS: number): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-2).join(' | ');
    return { error: `${script} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${tail}` };
  }
  const out = (r.stdout ?? '').trim();
  try {
    return JSON.parse(out.slice(out.indexOf('{')));
  } catch {
    return { error: `${script}: no JSON in its output` };
  }
}

export function cpuScalingPart(
  c: TrainPartConfig,
  log: (m: string) => void,
  timeoutS: number,
): Record<string, unknown> {
  const cores = os.availableParallelism();
  const size = ['--size', c.scalingSize];
  log(`scaling: bench/ortScaling.ts --threads 1,${cores} at config ${c.scalingSize}`);
  const threads = benchJson(
    'ortScaling.ts',
    [...size, '--threads', `1,${cores}`, '--runs', String(c.reps), '--json'],
    timeoutS,
  );
  const workers: Record<string, unknown> = {};
  for (const w of ['1', '2']) {
    log(`scaling: bench/cycleIteration.ts --workers ${w} --threads ${cores}`);
    workers[`workers_${w}`] = benchJson(
      'cycleIteration.ts',
      [...size, '--threads', String(cores), '--workers', w, '--reps', String(c.reps)],
      timeoutS,
    );
  }
  return { cores, config: c.scalingSize, threads, workers };
}
