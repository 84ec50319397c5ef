/**
 * Which engine trains a run, on how many threads, and why (one log line): the factory of the
 * TrainingModel contract (train/model/trainingModel.ts). On this thread `LocalTrainingModel`
 * (train/tfjs) or `OrtTrainingModel` (train/onnx); on two worker threads, one per side of the loss,
 * `ParallelTrainingModel` (train/parallel) with either engine in the workers.
 */
import * as os from 'node:os';
import type { NormKind } from '../core/arch/spec';
import { adapterName, probeWebGpu, type AdapterProbe } from '../core/gpu/webgpuAdapter';
import type { DeviceChoice, TrainingDevice } from '../core/config/options';
import { resolveTrainingDevice, type DeviceProbes } from './trainingDevice';
import type { EngineName } from './trainOptions';
import type { TrainingModel } from './model/trainingModel';
import type { ModelState, TrainingModelOptions } from './model/modelState';
import { LocalTrainingModel } from './tfjs/localTrainingModel';
import { ParallelTrainingModel, tfjsSides, threadsPerWorker } from './parallel/parallelTrainingModel';
import { OrtTrainingModel } from './onnx/ortTrainingModel';

/**
 * How many worker threads to train with: `--workers` 1 or 2, or with 'auto' (the default) 2 from
 * `autoFrom` cores (`cores`; for onnxruntime, its --threads). Each of the two workers computes on
 * half the cores (threadsPerWorker: XNNPACK or onnxruntime threads). Always 1 on the tensorflow backend (native
 * TensorFlow is multi-threaded itself), on webgpu (one device; a second thread would only compete
 * for it) and with batch norm (each worker would update the generators' running statistics on
 * different images).
 */
export function resolveWorkers(
  o: { workers?: number | 'auto'; norm: NormKind },
  backend: string,
  log: (msg: string) => void = () => {},
  cores = os.availableParallelism(),
  autoFrom = 2,
): 1 | 2 {
  const auto = o.workers === undefined || o.workers === 'auto';
  const wanted = auto ? (cores >= autoFrom ? 2 : 1) : o.workers;
  if (wanted === 1) return 1;
  if (backend === 'tensorflow' || backend === 'webgpu') {
    const why =
      backend === 'webgpu' ? 'one GPU serves one thread best' : 'the tensorflow backend is multi-threaded itself';
    if (!auto) log(`--workers 2 ignored: ${why}`);
    return 1;
  }
  if (o.norm === 'batch') {
    log("1 worker thread: with --norm batch two workers would update the generators' running statistics differently");
    return 1;
  }
  if (wanted !== 2) throw new Error(`--workers must be 1 or 2 (got ${wanted})`);
  return 2;
}

/**
 * Threads from which --workers auto splits the onnxruntime engine over two workers. On 2 cores
 * one session on both is as fast as two workers of one thread each (bench/cycleIteration.ts
 * --workers 1|2, README) at half the memory; from 4, each worker's share of the steps that run on
 * one thread whatever the thread count (copies, small elementwise kernels) is what limits one
 * session's scaling, and two workers halve it.
 */
export const ORT_AUTO_WORKERS_FROM = 4;

/** Which engine trains, on how many threads: what `resolveEngine` decides and `openTrainingModel` opens. */
export type EnginePlan =
  | {
      engine: 'onnxruntime';
      /** onnxruntime intra-op threads in all: each of 2 workers gets half. */
      threads: number;
      workers: 1 | 2;
      /** The GPU the step graphs run on (one worker); absent: the CPU. */
      device?: Exclude<TrainingDevice, 'cpu'>;
    }
  | { engine: 'tfjs'; /** The tfjs backend in use. */ backend: string; workers: 1 | 2 };

/** The engine options a plan depends on (TrainOptions has them all). */
export type EngineOptions = TrainingModelOptions & {
  engine?: EngineName;
  threads?: number;
  workers?: number | 'auto';
  device?: DeviceChoice;
  /** Modes without a crop keep each image's own size. */
  preprocess?: string;
};

/** Preprocessing that keeps each image's size: every new size would build new onnxruntime step graphs (seconds each). */
const SIZE_KEEPING = new Set(['none', 'scale_width']);

/**
 * The engine for these options on the tfjs backend `backend`: `--engine` onnxruntime or tfjs as
 * given; auto picks onnxruntime where it applies (a CPU backend, wasm or cpu, which onnxruntime's
 * multi-threaded kernels outrun, with crops of one size) and logs why when it does not, or when it
 * passed over a software WebGPU adapter (`adapter`: the probe, a parameter for tests). --threads
 * is onnxruntime's alone (ignored by tfjs with a log line); --workers applies to both.
 */
export function resolveEngine(
  o: EngineOptions,
  backend: string,
  log: (msg: string) => void = () => {},
  adapter: () => AdapterProbe = probeWebGpu,
  devices?: DeviceProbes,
): EnginePlan {
  const device = o.device ?? 'auto';
  // A device named is the onnxruntime engine's: the tfjs engine runs on --backend.
  let engine = o.engine === undefined || o.engine === 'auto' ? (device === 'auto' ? 'auto' : 'onnxruntime') : o.engine;
  if (engine === 'tfjs' && device !== 'auto')
    throw new Error(`--device ${device} is for --engine onnxruntime (the tfjs engine runs on --backend)`);
  if (engine === 'auto') {
    let why = backend !== 'wasm' && backend !== 'cpu' ? `tfjs backend ${backend}` : undefined;
    if (!why && o.preprocess && SIZE_KEEPING.has(o.preprocess))
      why = `--preprocess ${o.preprocess} keeps each image's size (onnxruntime builds step graphs per size)`;
    if (why) log(`${why}: training on the tfjs engine`);
    engine = why ? 'tfjs' : 'onnxruntime';
    if (engine === 'onnxruntime') {
      // A software adapter is a CPU emulating a GPU: said once, so that nobody wonders why it sat idle.
      const a = adapter();
      if (a.found && a.adapterClass === 'software')
        log(
          `engine auto: onnxruntime on the CPU, passed over the software WebGPU adapter (${adapterName(a.adapter)}): ` +
            `the onnxruntime CPU engine is faster (--device webgpu uses it)`,
        );
    }
  }
  if (engine === 'onnxruntime') {
    const threads = o.threads ?? os.availableParallelism();
    const on = resolveTrainingDevice(device, log, devices);
    if (on !== 'cpu') {
      if (o.workers === 2) log(`--workers 2 ignored: one ${on} device serves one session best`);
      return { engine, threads, workers: 1, device: on };
    }
    return { engine, threads, workers: resolveWorkers(o, 'onnxruntime', log, threads, ORT_AUTO_WORKERS_FROM) };
  }
  if (o.threads !== undefined) log(`--threads ${o.threads} ignored: the tfjs engine's threads follow --workers`);
  return { engine: 'tfjs', backend, workers: resolveWorkers(o, backend, log) };
}

/** The plan in words, for the start-up log: `onnxruntime engine, 8 threads`. */
export function describeEngine(p: EnginePlan): string {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (p.engine === 'onnxruntime' && p.device) return `onnxruntime engine on ${p.device}`;
  if (p.engine === 'onnxruntime')
    return p.workers === 1
      ? `onnxruntime engine, ${plural(p.threads, 'thread')}`
      : `onnxruntime engine, 2 worker threads × ${plural(threadsPerWorker(p.threads), 'thread')} each`;
  return (
    `tfjs engine (${p.backend}), ${plural(p.workers, 'worker thread')}` +
    (p.workers === 2 && p.backend === 'wasm' ? ` × ${threadsPerWorker()} XNNPACK thread(s) each` : '')
  );
}

/** A training model as `plan` says, starting from `state`; `log` hears about slow paths taken. */
export async function openTrainingModel(
  opts: TrainingModelOptions,
  state: ModelState,
  plan: EnginePlan,
  log: (msg: string) => void = () => {},
): Promise<TrainingModel> {
  if (plan.engine === 'onnxruntime')
    return plan.workers === 1
      ? OrtTrainingModel.open(opts, state, plan.threads, log, undefined, plan.device)
      : ParallelTrainingModel.open(
          opts,
          state,
          { engine: 'onnxruntime', threads: threadsPerWorker(plan.threads) },
          log,
        );
  if (plan.workers === 1) return new LocalTrainingModel(opts, state);
  return ParallelTrainingModel.open(opts, state, tfjsSides(plan.backend));
}
