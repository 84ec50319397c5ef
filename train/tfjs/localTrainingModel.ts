/** The training model on the calling thread: both sides of the loss in one CycleGanModel. */
import * as tf from '@tensorflow/tfjs';
import { SIDES } from '../model/cycleGan';
import { VISUAL_NAMES, type Losses, type VisualName } from '../model/trainingModel';
import { TfjsPooledModel } from './tfjsPooledModel';
import {
  completeState,
  type ImageBatch,
  type ModelState,
  type Shape4,
  type TrainingModelOptions,
} from '../model/modelState';
import type { TrainingModel } from '../model/trainingModel';

export class LocalTrainingModel implements TrainingModel {
  readonly workers = 1;
  readonly replica: TfjsPooledModel;

  constructor(opts: TrainingModelOptions, state: ModelState) {
    this.replica = new TfjsPooledModel(opts, SIDES, state);
  }

  async optimize(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<Losses> {
    return (await this.iteration(a, shapeA, b, shapeB, true))!;
  }

  async step(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<void> {
    await this.iteration(a, shapeA, b, shapeB, false);
  }

  /** Reads are asynchronous (a synchronous read from a WebGPU device needs a browser's OffscreenCanvas). */
  private async iteration(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4, readLosses: boolean) {
    const [ta, tb] = [tf.tensor4d(a, shapeA), tf.tensor4d(b, shapeB)];
    try {
      return await this.replica.model.optimize(ta, tb, readLosses);
    } finally {
      tf.dispose([ta, tb]);
    }
  }

  async setLearningRate(lr: number): Promise<void> {
    this.replica.model.learningRate = lr;
  }

  get learningRate(): number {
    return this.replica.model.learningRate;
  }

  async visuals(): Promise<Record<VisualName, ImageBatch> | undefined> {
    const v = await this.replica.model.visualImages();
    return VISUAL_NAMES.every((n) => v[n]) ? (v as Record<VisualName, ImageBatch>) : undefined;
  }

  async exportState(): Promise<ModelState> {
    return completeState(await this.replica.exportState());
  }

  async importState(state: ModelState): Promise<void> {
    this.replica.importState(state);
  }

  async dispose(): Promise<void> {
    this.replica.dispose();
  }
}
