/**
 * The training model on onnxruntime (the CPU engine) on this thread: each iteration runs two ONNX
 * graphs built from the architecture description (stepGraphs.ts), the generator step and the
 * discriminator step, with the image pools in between. onnxruntime's MLAS kernels use every core
 * given through its intra-op thread pool. Two workers, one side of the loss each, train faster on
 * several cores (OrtSideModel under train/parallel); batch norm trains here, in the official order.
 */
import * as os from 'node:os';
import type { Losses, VisualName } from '../model/trainingModel';
import { DROPOUT_SEEDS_PER_ITERATION, NET_NAMES, SIDES } from '../model/cycleGan';
import { LOSS_NAMES, VISUAL_NAMES } from '../model/trainingModel';
import {
  completeState,
  type ImageBatch,
  type ModelState,
  type Shape4,
  type TrainingModelOptions,
} from '../model/modelState';
import type { TrainingModel } from '../model/trainingModel';
import { float32Tensor } from '../../core/onnx/ortRuntime';
import { imageOf, nhw, OrtModelBase } from './ortModelBase';
import { discriminatorStepGraph, generatorStepGraph } from './stepGraphs';

export class OrtTrainingModel extends OrtModelBase implements TrainingModel {
  readonly workers = 1;
  private last: Partial<Record<VisualName, ImageBatch>> = {};

  /**
   * A model on `threads` onnxruntime threads (default: every core) starting from `state`; `log`
   * hears once when image sizes outnumber the sessions kept.
   */
  static async open(
    opts: TrainingModelOptions,
    state: ModelState,
    threads?: number,
    log: (msg: string) => void = () => {},
    profilePrefix?: string,
  ): Promise<OrtTrainingModel> {
    const cores = threads ?? os.availableParallelism();
    const m = new OrtTrainingModel(opts, NET_NAMES, NET_NAMES, SIDES, cores, log, profilePrefix);
    await m.importState(state);
    return m;
  }

  async optimize(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<Losses> {
    const real = { real_A: float32Tensor(a, shapeA), real_B: float32Tensor(b, shapeB) };
    const gShapes = { real_A: nhw(shapeA), real_B: nhw(shapeB) };
    const gOut = await this.run('G', await this.compiled('G', gShapes, generatorStepGraph), real);
    this.dropoutCounter += DROPOUT_SEEDS_PER_ITERATION; // as the tfjs model, so states agree across engines

    const fakeB = imageOf(gOut, 'fake_B');
    const fakeA = imageOf(gOut, 'fake_A');
    const pooledB = this.pooled('A', fakeB);
    const pooledA = this.pooled('B', fakeA);
    const dShapes = { ...gShapes, fake_A: nhw(pooledA.shape), fake_B: nhw(pooledB.shape) };
    const dOut = await this.run('D', await this.compiled('D', dShapes, discriminatorStepGraph), {
      ...real,
      fake_A: float32Tensor(pooledA.data, pooledA.shape),
      fake_B: float32Tensor(pooledB.data, pooledB.shape),
    });

    // Copies of the reals: the caller may reuse its batch buffers for the next iteration.
    this.last = {
      real_A: { data: a.slice(), shape: shapeA },
      fake_B: fakeB,
      rec_A: imageOf(gOut, 'rec_A'),
      real_B: { data: b.slice(), shape: shapeB },
      fake_A: fakeA,
      rec_B: imageOf(gOut, 'rec_B'),
    };
    const value = (name: string) => (gOut[name] ?? dOut[name]).data[0] as number;
    return Object.fromEntries(LOSS_NAMES.map((k) => [k, value(`loss_${k}`)])) as Losses;
  }

  async visuals(): Promise<Record<VisualName, ImageBatch> | undefined> {
    return VISUAL_NAMES.every((n) => this.last[n]) ? (this.last as Record<VisualName, ImageBatch>) : undefined;
  }

  async exportState(): Promise<ModelState> {
    return completeState(this.exportPartial());
  }
}
