/**
 * The training model on onnxruntime on this thread: each iteration runs two ONNX graphs built from
 * the architecture description (stepGraphs.ts), the generator step and the discriminator step, with
 * the image pools in between. On the CPU onnxruntime's MLAS kernels use every core given through its
 * intra-op thread pool; on a GPU provider (`device`) the state stays there between runs and the
 * reconstructions are read back only for sample images. Two workers, one side of the loss each, train faster on
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
import { float32Tensor, isDeviceTensor, type OrtTensor } from '../../core/onnx/ortRuntime';
import type { TrainingDevice } from '../../core/config/options';
import { imageOf, nhw, OrtModelBase } from './ortModelBase';
import { discriminatorStepGraph, generatorStepGraph } from './stepGraphs';

/** The generator step's reconstructions: needed only for sample images, so left on a device until asked for. */
const REC = ['rec_A', 'rec_B'] as const;

export class OrtTrainingModel extends OrtModelBase implements TrainingModel {
  readonly workers = 1;
  private last: Partial<Record<VisualName, ImageBatch>> = {};
  /** The last reconstructions where they stayed on the device, read back by `visuals`. */
  private lastOnDevice = new Map<string, OrtTensor>();

  /**
   * A model on `threads` onnxruntime threads (default: every core) starting from `state`; `log`
   * hears once when image sizes outnumber the sessions kept; `device` is where the steps run.
   */
  static async open(
    opts: TrainingModelOptions,
    state: ModelState,
    threads?: number,
    log: (msg: string) => void = () => {},
    profilePrefix?: string,
    device: TrainingDevice = 'cpu',
  ): Promise<OrtTrainingModel> {
    const cores = threads ?? os.availableParallelism();
    const m = new OrtTrainingModel(opts, NET_NAMES, NET_NAMES, SIDES, cores, log, profilePrefix, device);
    await m.importState(state);
    return m;
  }

  async optimize(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<Losses> {
    const real = { real_A: float32Tensor(a, shapeA), real_B: float32Tensor(b, shapeB) };
    const gShapes = { real_A: nhw(shapeA), real_B: nhw(shapeB) };
    const gOut = await this.run('G', await this.compiled('G', gShapes, generatorStepGraph, REC), real);
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
      real_B: { data: b.slice(), shape: shapeB },
      fake_A: fakeA,
    };
    this.releaseRec();
    for (const name of REC)
      if (isDeviceTensor(gOut[name])) this.lastOnDevice.set(name, gOut[name]);
      else this.last[name] = imageOf(gOut, name);
    const value = (name: string) => (gOut[name] ?? dOut[name]).data[0] as number;
    return Object.fromEntries(LOSS_NAMES.map((k) => [k, value(`loss_${k}`)])) as Losses;
  }

  async visuals(): Promise<Record<VisualName, ImageBatch> | undefined> {
    if (this.lastOnDevice.size > 0) {
      const read = await this.readDevice(this.lastOnDevice);
      for (const [name, t] of this.lastOnDevice)
        this.last[name as VisualName] = { data: read.get(name)!, shape: t.dims as Shape4 };
      this.releaseRec();
    }
    return VISUAL_NAMES.every((n) => this.last[n]) ? (this.last as Record<VisualName, ImageBatch>) : undefined;
  }

  private releaseRec(): void {
    for (const t of this.lastOnDevice.values()) t.dispose();
    this.lastOnDevice.clear();
  }

  override async dispose(): Promise<void> {
    this.releaseRec();
    await super.dispose();
  }

  async exportState(): Promise<ModelState> {
    return completeState(await this.exportPartial());
  }
}
