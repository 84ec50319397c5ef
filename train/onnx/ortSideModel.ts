/**
 * One side of a CycleGAN iteration on onnxruntime, for a worker of ParallelTrainingModel
 * (train/parallel): both generators' weights, the Adam moments of the side's own generator (G_A
 * for side A), the side's discriminator, the pool of the side's fakes and its random stream. An
 * iteration in two halves, with the other worker's gradient in between:
 *   generatorGradients: the side graph, this side's part of loss_G and its generator gradient;
 *   discriminatorStep:  the side's D step on its pooled fake, which needs nothing of the other side
 *                       (nor the generator update), so it runs while the other worker may still be
 *                       computing its gradient;
 *   updateGenerator:    the own generator's Adam step with both sides' gradients of it (grad_A +
 *                       grad_B).
 * Each generator is thus updated once, by its side's worker; the other worker takes the result
 * (setOtherGenerator) before its next step.
 */
import { float32Tensor, type OrtTensor, type OrtValues } from '../../core/onnx/ortRuntime';
import { DROPOUT_SEEDS_PER_ITERATION, NET_NAMES, SIDE, type Side } from '../model/cycleGan';
import { type Losses, type VisualName } from '../model/trainingModel';
import type { ImageBatch, ModelState, PartialModelState, Shape4, TrainingModelOptions } from '../model/modelState';
import { imageOf, nhw, OrtModelBase } from './ortModelBase';
import { discriminatorStepGraph, generatorSideGraph, generatorUpdateGraph, gradient } from './stepGraphs';

interface Pending {
  reals: Record<'real_A' | 'real_B', ImageBatch>;
  out: OrtValues;
  /** The D step's loss, once it has run. */
  lossD?: number;
}

export class OrtSideModel extends OrtModelBase {
  private pending?: Pending;
  private last: Partial<Record<VisualName, ImageBatch>> = {};

  private constructor(
    opts: TrainingModelOptions,
    private readonly side: Side,
    threads: number,
    log: (msg: string) => void,
  ) {
    const s = SIDE[side];
    super(
      opts,
      NET_NAMES.filter((n) => n.startsWith('G') || n === s.D),
      [s.G, s.D],
      [side],
      threads,
      log,
    );
  }

  /** The side's model on `threads` onnxruntime threads, from `state`; `log` hears of slow paths taken. */
  static async open(
    opts: TrainingModelOptions,
    side: Side,
    state: ModelState,
    threads: number,
    log: (msg: string) => void = () => {},
  ): Promise<OrtSideModel> {
    if (opts.norm === 'batch') throw new Error('batch norm trains on one onnxruntime model, not split by side');
    const m = new OrtSideModel(opts, side, threads, log);
    await m.importState(state);
    return m;
  }

  /** This side's gradient for every generator parameter (`NET.key` → values), the first half of an iteration. */
  async generatorGradients(
    a: Float32Array,
    shapeA: Shape4,
    b: Float32Array,
    shapeB: Shape4,
  ): Promise<Map<string, Float32Array>> {
    const s = SIDE[this.side];
    const reals = { real_A: { data: a, shape: shapeA }, real_B: { data: b, shape: shapeB } };
    const real = reals[s.images.real];
    const g = await this.compiled('G', { [s.images.real]: nhw(real.shape) }, (o, shapes) =>
      generatorSideGraph(o, shapes, this.side),
    );
    const out = await this.run('G', g, { [s.images.real]: float32Tensor(real.data, real.shape) });
    this.dropoutCounter += DROPOUT_SEEDS_PER_ITERATION; // as the tfjs model, so states agree across engines
    this.pending = { reals, out };
    return new Map(g.graph.keys.map((k) => [k, out[gradient(k)].data as Float32Array]));
  }

  /** This side's D step on its fake of the pending iteration, through its pool. */
  async discriminatorStep(): Promise<void> {
    const p = this.pendingStep();
    const s = SIDE[this.side];
    const realName = `real_${s.other}` as const;
    const real = p.reals[realName];
    const pooled = this.pooled(this.side, imageOf(p.out, s.images.fake));
    const shapes = { [realName]: nhw(real.shape), [s.images.fake]: nhw(pooled.shape) };
    const d = await this.compiled('D', shapes, (o, sh) => discriminatorStepGraph(o, sh, [this.side]));
    const out = await this.run('D', d, {
      [realName]: float32Tensor(real.data, real.shape),
      [s.images.fake]: float32Tensor(pooled.data, pooled.shape),
    });
    p.lossD = out[`loss_${s.losses.d}`].data[0] as number;
  }

  /**
   * The end of the iteration: the own generator's update with the other side's gradient of it
   * (`theirs`). Returns the side's losses and its generator's new weights.
   */
  async updateGenerator(
    theirs: ReadonlyMap<string, Float32Array>,
  ): Promise<{ losses: Partial<Losses>; generator: Map<string, Float32Array> }> {
    const p = this.pendingStep();
    if (p.lossD === undefined) throw new Error('updateGenerator before the discriminator step');
    this.pending = undefined;
    const s = SIDE[this.side];
    const u = await this.compiled(`update ${s.G}`, {}, (o) => generatorUpdateGraph(o, s.G));
    const feeds: Record<string, OrtTensor> = {};
    for (const key of u.graph.keys) {
      const other = theirs.get(key);
      if (!other) throw new Error(`no gradient of ${key} from side ${s.other}`);
      feeds[gradient(key, this.side)] = float32Tensor(p.out[gradient(key)].data as Float32Array, this.shapeOf(key));
      feeds[gradient(key, s.other)] = float32Tensor(other, this.shapeOf(key));
    }
    await this.run('update', u, feeds);

    const own = p.reals[s.images.real];
    this.last = {
      [s.images.real]: { data: own.data.slice(), shape: own.shape },
      [s.images.fake]: imageOf(p.out, s.images.fake),
      [s.images.rec]: imageOf(p.out, s.images.rec),
    };
    const value = (name: string) => p.out[`loss_${name}`].data[0] as number;
    return {
      losses: {
        [s.losses.gan]: value(s.losses.gan),
        [s.losses.cycle]: value(s.losses.cycle),
        [s.losses.idt]: value(s.losses.idt),
        [s.losses.d]: p.lossD,
      },
      generator: this.paramValues(u.graph.keys),
    };
  }

  private pendingStep(): Pending {
    if (!this.pending) throw new Error('no generator gradients of this iteration');
    return this.pending;
  }

  /** The other side's generator as its worker updated it. */
  setOtherGenerator(weights: ReadonlyMap<string, Float32Array>): void {
    const other = SIDE[SIDE[this.side].other].G;
    if ([...weights.keys()].some((k) => !k.startsWith(`${other}.`))) throw new Error(`expected ${other}'s weights`);
    this.setParams(weights);
  }

  /** The last iteration's images of this side. */
  visuals(): Partial<Record<VisualName, ImageBatch>> {
    return this.last;
  }

  exportState(): Promise<PartialModelState> {
    return this.exportPartial();
  }
}
