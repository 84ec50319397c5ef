/**
 * The two halves of a CycleGAN iteration as ONNX graphs, in the order of the official
 * `cycle_gan_model.py` optimize_parameters():
 *   generator step:     forward of both cycles, loss_G with the discriminators frozen, its gradient
 *                       for G_A and G_B, and their Adam update;
 *   discriminator step: loss_D_A and loss_D_B on the real images and the pooled fakes, their
 *                       gradients and the discriminators' Adam update.
 * Between the two the caller passes the generator step's fakes through the image pools.
 *
 * Split by side for two workers (train/parallel; loss_G = L_A + L_B exactly, see train/model/cycleGan.ts):
 *   generator side graph:   one side's part of loss_G and its gradient for G_A and G_B, `grad/…`;
 *   generator update graph: a generator's Adam step with the sum of both sides' gradients
 *                           (`grad_A/…` + `grad_B/…`), run by the worker of the side it starts from;
 *   discriminator step:     of the side's discriminator only.
 *
 * Names: images `real_A` … NHWC like the rest of the trainer; parameters `NET.key` (the optimiser's
 * key space, e.g. `G_A.model.1.weight`) with Adam moments `m/…`, `v/…`; outputs `new/…`, `new_m/…`,
 * `new_v/…`; losses `loss_<official name>` as scalars. `adam_step_size` = lr / (1 − β1^t) and
 * `adam_bc2_sqrt` = √(1 − β2^t) are inputs so the learning-rate schedule needs no new graph.
 * Batch norm's running statistics come in as parameters and go out as `new/…`; dropout
 * multipliers come in as `dropout/<call>/<n>`.
 */
import { paramSpecs, type NetworkSpec } from '../../core/arch/spec';
import { numel } from '../../core/arch/stateDict';
import type { GanMode } from '../model/cycleGan';
import { SIDE, type NetName, type Side } from '../model/cycleGan';
import { GraphBuilder } from './graphBuilder';
import { applyNetwork, type Backward } from './networkGradients';

export const STEP_SIZE = 'adam_step_size';
export const BC2_SQRT = 'adam_bc2_sqrt';
export const moment = (which: 'm' | 'v', key: string): string => `${which}/${key}`;
export const updated = (what: 'param' | 'm' | 'v', key: string): string =>
  what === 'param' ? `new/${key}` : `new_${what}/${key}`;
/** A side graph's gradient output (`side` absent) or the update graph's input of that side's gradient. */
export const gradient = (key: string, side?: Side): string => (side ? `grad_${side}/${key}` : `grad/${key}`);

export interface StepGraphOptions {
  specs: Record<NetName, NetworkSpec>;
  gan_mode: GanMode;
  lambda_A: number;
  lambda_B: number;
  lambda_identity: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** [N, H, W] of each image input (NHWC; channels come from the networks). */
export type ImageShapes = Record<string, [number, number, number]>;

export interface StepGraph {
  model: Uint8Array;
  /** Trainable parameter keys (`NET.key`) the graph updates, in input order. */
  keys: string[];
  /** Frozen parameter keys it reads (the discriminators in the generator step). */
  frozenKeys: string[];
  /** Buffers (batch norm running statistics) of any of its networks: read, and output updated. */
  bufferKeys: string[];
  /** Dropout multiplier inputs: each one's shape, rate and seed offset from the iteration's dropout counter. */
  dropoutMasks: DropoutMask[];
  /** The optimiser whose step the graph takes on `keys` (absent: it outputs their gradients instead). */
  updates?: 'G' | 'D';
}

export interface DropoutMask {
  name: string;
  shape: number[];
  rate: number;
  seedOffset: number;
}

/** Parameters of the trained networks, their gradients summed over every call, and the Adam update. */
class TrainedParams {
  private readonly grads = new Map<string, string[]>();
  readonly keys: string[] = [];
  readonly frozenKeys: string[] = [];
  readonly bufferKeys: string[] = [];
  readonly dropoutMasks: DropoutMask[] = [];
  private updates?: 'G' | 'D';
  /** Each parameter's graph tensor; a buffer's is its latest value. */
  private readonly tensors = new Map<string, string>();

  constructor(
    private readonly b: GraphBuilder,
    private readonly specs: Record<NetName, NetworkSpec>,
    trained: NetName[],
    frozen: NetName[],
  ) {
    for (const [names, list] of [
      [trained, this.keys],
      [frozen, this.frozenKeys],
    ] as const)
      for (const net of names)
        for (const p of paramSpecs(specs[net])) {
          const key = `${net}.${p.key}`;
          this.tensors.set(key, b.input(key, p.shape));
          (p.trainable ? list : this.bufferKeys).push(key);
        }
  }

  /**
   * A network call: trained networks collect gradients, frozen ones do not. A generator call's
   * dropout layers draw with seeds `dropoutSeed`, `dropoutSeed + 1`, … (the tfjs engine's, see
   * cycleGanModel's DROPOUT_SEEDS) offset by the iteration's counter.
   */
  apply(net: NetName, x: string, scope: string, dropoutSeed = 0): { y: string; back: Backward } {
    const trained = this.keys.some((k) => k.startsWith(`${net}.`));
    let seedOffset = dropoutSeed;
    return applyNetwork(
      this.b,
      this.specs[net],
      x,
      {
        param: (key) => this.tensors.get(`${net}.${key}`)!,
        addGrad: trained
          ? (key, grad) => {
              const full = `${net}.${key}`;
              this.grads.set(full, [...(this.grads.get(full) ?? []), grad]);
            }
          : undefined,
        setBuffer: (key, value) => this.tensors.set(`${net}.${key}`, value),
        dropoutMask: (shape, rate) => {
          const mask: DropoutMask = { name: `dropout/${scope}/${this.dropoutMasks.length}`, shape, rate, seedOffset };
          seedOffset++;
          this.dropoutMasks.push(mask);
          return this.b.input(mask.name, shape);
        },
      },
      scope,
    );
  }

  /** The built graph with what its caller feeds and reads. */
  stepGraph(model: Uint8Array): StepGraph {
    const { keys, frozenKeys, bufferKeys, dropoutMasks, updates } = this;
    return { model, keys, frozenKeys, bufferKeys, dropoutMasks, updates };
  }

  /** Each trained parameter's gradient, summed over its calls, as the output `grad/<key>`. */
  outputGradients(): void {
    for (const key of this.keys) this.b.output(this.b.sum(this.partsOf(key), `grad/${key}`), gradient(key));
  }

  /** Gradients computed elsewhere: inputs `grad_A/<key>` and `grad_B/<key>`, summed in that order. */
  gradientInputs(sides: readonly Side[]): void {
    for (const key of this.keys) {
      const shape = this.b.shape(this.tensors.get(key)!);
      this.grads.set(
        key,
        sides.map((side) => this.b.input(gradient(key, side), shape)),
      );
    }
  }

  private partsOf(key: string): string[] {
    const parts = this.grads.get(key);
    if (!parts) throw new Error(`no gradient reaches ${key}`);
    return parts;
  }

  /** PyTorch 1.13 Adam on every trained parameter; outputs the new parameters and moments, and the buffers' last values. */
  adam(o: { beta1: number; beta2: number; eps: number }): void {
    const b = this.b;
    this.updates = this.keys[0].startsWith('G') ? 'G' : 'D';
    const stepSize = b.input(STEP_SIZE, []);
    const bc2Sqrt = b.input(BC2_SQRT, []);
    for (const key of this.keys) {
      const where = `adam/${key}`;
      const g = b.sum(this.partsOf(key), where);
      const shape = b.shape(g);
      const m = b.input(moment('m', key), shape);
      const v = b.input(moment('v', key), shape);
      const m2 = b.binary(
        'Add',
        b.binary('Mul', m, b.scalar(o.beta1), where),
        b.binary('Mul', g, b.scalar(1 - o.beta1), where),
        where,
      );
      const v2 = b.binary(
        'Add',
        b.binary('Mul', v, b.scalar(o.beta2), where),
        b.binary('Mul', b.binary('Mul', g, g, where), b.scalar(1 - o.beta2), where),
        where,
      );
      const denom = b.binary(
        'Add',
        b.binary('Div', b.unary('Sqrt', v2, where), bc2Sqrt, where),
        b.scalar(o.eps),
        where,
      );
      const p2 = b.binary(
        'Sub',
        this.tensors.get(key)!,
        b.binary('Mul', b.binary('Div', m2, denom, where), stepSize, where),
        where,
      );
      b.output(p2, updated('param', key));
      b.output(m2, updated('m', key));
      b.output(v2, updated('v', key));
    }
    for (const key of this.bufferKeys) b.output(this.tensors.get(key)!, updated('param', key));
  }
}

/** A loss term's value (scalar) and the gradient of weight·term with respect to its first argument. */
interface Term {
  value: string;
  grad: string;
}

function ganTerm(b: GraphBuilder, mode: GanMode, pred: string, real: boolean, weight: number, where: string): Term {
  const n = numel(b.shape(pred));
  const t = b.scalar(real ? 1 : 0);
  if (mode === 'lsgan') {
    const diff = b.binary('Sub', pred, t, where);
    const value = b.meanAll(b.binary('Mul', diff, diff, where), where);
    return { value, grad: b.binary('Mul', diff, b.scalar((2 * weight) / n), where) };
  }
  // BCE with logits: softplus(x) − x·t, gradient sigmoid(x) − t.
  const value = b.meanAll(
    b.binary('Sub', b.unary('Softplus', pred, where), b.binary('Mul', pred, t, where), where),
    where,
  );
  const grad = b.binary('Mul', b.binary('Sub', b.unary('Sigmoid', pred, where), t, where), b.scalar(weight / n), where);
  return { value, grad };
}

/** weight·mean|a − b| and its gradient with respect to a. */
function l1Term(b: GraphBuilder, a: string, target: string, weight: number, where: string): Term {
  const diff = b.binary('Sub', a, target, where);
  const value = b.binary('Mul', b.meanAll(b.unary('Abs', diff, where), where), b.scalar(weight), where);
  // sign(diff) as (diff > 0) − (diff < 0), the same values: onnxruntime's WebGPU provider has no Sign
  // kernel, and one node on the CPU would copy four images each way through host memory every step.
  const positive = b.toFloat(b.op('Greater', [diff, b.scalar(0)], b.shape(diff), where), where);
  const negative = b.toFloat(b.op('Less', [diff, b.scalar(0)], b.shape(diff), where), where);
  const sign = b.binary('Sub', positive, negative, where);
  const grad = b.binary('Mul', sign, b.scalar(weight / numel(b.shape(a))), where);
  return { value, grad };
}

function imageInputs(b: GraphBuilder, o: StepGraphOptions, shapes: ImageShapes, names: Record<string, NetName>) {
  const nchw: Record<string, string> = {};
  for (const [name, net] of Object.entries(names)) {
    const shape = shapes[name];
    if (!shape) throw new Error(`no shape for image input ${name}`);
    nchw[name] = b.transpose(b.input(name, [...shape, o.specs[net].inputNc]), [0, 3, 1, 2], name);
  }
  return nchw;
}

function imageOutput(b: GraphBuilder, t: string, name: string): void {
  b.output(b.transpose(t, [0, 2, 3, 1], name), name);
}

/** A side's cycle: fake = G(real), rec = F(fake), and D's verdict on the fake. */
function cycleCalls(p: TrainedParams, side: Side, real: string) {
  const s = SIDE[side];
  const fake = p.apply(s.G, real, `${s.G}(${s.images.real})`, s.seeds.fake);
  const rec = p.apply(s.inverse, fake.y, `${s.inverse}(${s.images.fake})`, s.seeds.rec);
  return { fake, rec, pred: () => p.apply(s.D, fake.y, `${s.D}(${s.images.fake})`) };
}

/**
 * The side's GAN and cycle terms and their backward: rec ← F ← fake ← G, with D's verdict on the
 * fake joining at the fake.
 */
function cycleBackward(
  b: GraphBuilder,
  o: StepGraphOptions,
  side: Side,
  real: string,
  c: ReturnType<typeof cycleCalls>,
  pred: { y: string; back: Backward },
): { gan: Term; cycle: Term } {
  const s = SIDE[side];
  const gan = ganTerm(b, o.gan_mode, pred.y, true, 1, `loss_${s.losses.gan}`);
  const cycle = l1Term(b, c.rec.y, real, o[s.lambda], `loss_${s.losses.cycle}`);
  const dFake = b.sum([c.rec.back(cycle.grad, true)!, pred.back(gan.grad, true)!], `d_${s.images.fake}`);
  c.fake.back(dFake, false);
  return { gan, cycle };
}

/** The side's identity term, F(real) against real, and its backward (zero without identity loss). */
function identityTerm(b: GraphBuilder, p: TrainedParams, o: StepGraphOptions, side: Side, real: string): string {
  if (o.lambda_identity <= 0) return b.scalar(0);
  const s = SIDE[side];
  const idt = p.apply(s.inverse, real, `${s.inverse}(${s.images.real})`, s.seeds.idt);
  const t = l1Term(b, idt.y, real, o[s.lambda] * o.lambda_identity, `loss_${s.losses.idt}`);
  idt.back(t.grad, false);
  return t.value;
}

/** The generator step (see the file comment); outputs `fake_B`, `rec_A`, `fake_A`, `rec_B` and six losses. */
export function generatorStepGraph(o: StepGraphOptions, shapes: ImageShapes): StepGraph {
  const b = new GraphBuilder();
  // real_A feeds G_A; real_B feeds G_B.
  const real = imageInputs(b, o, shapes, { real_A: 'G_A', real_B: 'G_B' });
  const p = new TrainedParams(b, o.specs, ['G_A', 'G_B'], ['D_A', 'D_B']);
  // forward(): the official call order, which batch norm's running statistics follow.
  const cycles = { A: cycleCalls(p, 'A', real.real_A), B: cycleCalls(p, 'B', real.real_B) };
  const preds = { A: cycles.A.pred(), B: cycles.B.pred() };
  const losses: Record<string, string> = {};
  for (const side of ['A', 'B'] as const) {
    const t = cycleBackward(b, o, side, real[SIDE[side].images.real], cycles[side], preds[side]);
    losses[SIDE[side].losses.gan] = t.gan.value;
    losses[SIDE[side].losses.cycle] = t.cycle.value;
  }
  // backward_G's identity terms: idt_A (side B) first.
  for (const side of ['B', 'A'] as const)
    losses[SIDE[side].losses.idt] = identityTerm(b, p, o, side, real[SIDE[side].images.real]);
  p.adam(o);
  for (const side of ['A', 'B'] as const) {
    imageOutput(b, cycles[side].fake.y, SIDE[side].images.fake);
    imageOutput(b, cycles[side].rec.y, SIDE[side].images.rec);
  }
  for (const name of ['G_A', 'cycle_A', 'idt_A', 'G_B', 'cycle_B', 'idt_B']) b.output(losses[name], `loss_${name}`);
  return p.stepGraph(b.build('cyclegan generator step'));
}

/**
 * One side's part of the generator step without the update: its images, its three loss terms
 * and the gradient of their sum for every generator parameter (`grad/<key>`).
 */
export function generatorSideGraph(o: StepGraphOptions, shapes: ImageShapes, side: Side): StepGraph {
  const s = SIDE[side];
  const b = new GraphBuilder();
  const real = imageInputs(b, o, shapes, { [s.images.real]: s.G })[s.images.real];
  const p = new TrainedParams(b, o.specs, ['G_A', 'G_B'], [s.D]);
  if (p.bufferKeys.length) throw new Error('generator side graphs cannot update batch norm running statistics');
  const c = cycleCalls(p, side, real);
  const t = cycleBackward(b, o, side, real, c, c.pred());
  const idt = identityTerm(b, p, o, side, real);
  p.outputGradients();
  imageOutput(b, c.fake.y, s.images.fake);
  imageOutput(b, c.rec.y, s.images.rec);
  b.output(t.gan.value, `loss_${s.losses.gan}`);
  b.output(t.cycle.value, `loss_${s.losses.cycle}`);
  b.output(idt, `loss_${s.losses.idt}`);
  return p.stepGraph(b.build(`cyclegan generator side ${side}`));
}

/** Adam on generator `net` with the sum of both sides' gradients (inputs `grad_A/…`, `grad_B/…`). */
export function generatorUpdateGraph(o: StepGraphOptions, net: 'G_A' | 'G_B'): StepGraph {
  const b = new GraphBuilder();
  const p = new TrainedParams(b, o.specs, [net], []);
  p.gradientInputs(['A', 'B']);
  p.adam(o);
  return p.stepGraph(b.build('cyclegan generator update'));
}

/**
 * The discriminator step of the sides' discriminators (both, or one side's: D_A judges side A's
 * fake_B against real_B) on the pooled fakes; outputs `loss_D_A`, `loss_D_B`.
 */
export function discriminatorStepGraph(
  o: StepGraphOptions,
  shapes: ImageShapes,
  sides: readonly Side[] = ['A', 'B'],
): StepGraph {
  const b = new GraphBuilder();
  const judged = sides.map((side) => {
    const s = SIDE[side];
    return [s.D, `real_${s.other}`, s.images.fake] as const;
  });
  const img = imageInputs(
    b,
    o,
    shapes,
    Object.fromEntries(
      judged.flatMap(([net, realName, fakeName]) => [
        [realName, net],
        [fakeName, net],
      ]),
    ),
  );
  const p = new TrainedParams(
    b,
    o.specs,
    judged.map(([net]) => net),
    [],
  );
  for (const [net, realName, fakeName] of judged) {
    const where = `loss_${net}`;
    const onReal = p.apply(net, img[realName], `${net}(${realName})`);
    const onFake = p.apply(net, img[fakeName], `${net}(${fakeName})`);
    const r = ganTerm(b, o.gan_mode, onReal.y, true, 0.5, where);
    const f = ganTerm(b, o.gan_mode, onFake.y, false, 0.5, where);
    onReal.back(r.grad, false);
    onFake.back(f.grad, false);
    b.output(b.binary('Mul', b.binary('Add', r.value, f.value, where), b.scalar(0.5), where), where);
  }
  p.adam(o);
  return p.stepGraph(b.build('cyclegan discriminator step'));
}
