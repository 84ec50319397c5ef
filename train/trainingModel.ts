/**
 * What the training loop drives: one CycleGAN optimisation step per batch, the learning rate,
 * sample images, and the complete state a checkpoint keeps. Two implementations with the same
 * math and the same state: `LocalTrainingModel` (this thread) and `ParallelTrainingModel` (two
 * worker threads, one per side of the loss; train/parallel). A run saved by one resumes in the other.
 */
import * as os from 'node:os';
import type { NormKind } from '../core/arch/spec';
import type { Losses, VisualName } from './cycleGanModel';
import type { ImageBatch, ModelState, Shape4, TrainingModelOptions } from './modelState';
import { LocalTrainingModel } from './localTrainingModel';
import { ParallelTrainingModel } from './parallel/parallelTrainingModel';

export interface TrainingModel {
  /** Threads computing each step (1: this one). */
  readonly workers: number;
  /** One iteration (G step, then D step) on batches A and B; the eight official loss terms. */
  optimize(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<Losses>;
  /**
   * The same iteration without reading the losses back, where that saves a wait: on a GPU, reading
   * them waits for the whole iteration to finish instead of queueing the next one behind it.
   */
  step?(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<void>;
  setLearningRate(lr: number): Promise<void>;
  readonly learningRate: number;
  /** The last iteration's images for a sample grid; undefined before the first iteration. */
  visuals(): Promise<Record<VisualName, ImageBatch> | undefined>;
  exportState(): Promise<ModelState>;
  importState(state: ModelState): Promise<void>;
  /** Frees tensors and ends worker threads. */
  dispose(): Promise<void>;
}

/**
 * How many worker threads to train with: `--workers` 1 or 2, or with 'auto' (the default) 2 when there
 * are two cores to use. Each of the two workers runs XNNPACK on half the cores (wasmThreadsPerWorker).
 * Always 1 on the tensorflow backend (native TensorFlow is multi-threaded itself), on webgpu (one
 * device; a second thread would only compete for it) and with batch norm (each worker would update the generators' running statistics on different images).
 */
export function resolveWorkers(
  o: { workers?: number | 'auto'; norm: NormKind },
  backend: string,
  log: (msg: string) => void = () => {},
): 1 | 2 {
  const auto = o.workers === undefined || o.workers === 'auto';
  const wanted = auto ? (os.availableParallelism() >= 2 ? 2 : 1) : o.workers;
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

/** A training model on `workers` threads (1: this thread), starting from `state`. */
export async function openTrainingModel(
  opts: TrainingModelOptions,
  state: ModelState,
  workers: 1 | 2,
  backend: string,
): Promise<TrainingModel> {
  if (workers === 1) return new LocalTrainingModel(opts, state);
  return ParallelTrainingModel.open(opts, state, backend);
}
