/**
 * What the training loop drives: one CycleGAN optimisation step per batch, the learning rate,
 * sample images, and the complete state a checkpoint keeps. Two engines, one math and one state:
 * on this thread `LocalTrainingModel` (train/tfjs) or `OrtTrainingModel` (train/onnx), or on two
 * worker threads, one per side of the loss, `ParallelTrainingModel` (train/parallel) with either
 * engine in the workers. A run saved by any of them resumes in any other. train/engines.ts picks one.
 *
 * As the official base_model, the contract owns the names of what a model reports: its loss terms
 * and its visuals.
 */
import type { ImageBatch, ModelState, Shape4 } from './modelState';

export const LOSS_NAMES = ['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B'] as const;
export type LossName = (typeof LOSS_NAMES)[number];
export type Losses = Record<LossName, number>;

export type VisualName = 'real_A' | 'fake_B' | 'rec_A' | 'real_B' | 'fake_A' | 'rec_B';
/** Sample-grid columns, as the official visual_names. */
export const VISUAL_NAMES: readonly VisualName[] = ['real_A', 'fake_B', 'rec_A', 'real_B', 'fake_A', 'rec_B'];

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
