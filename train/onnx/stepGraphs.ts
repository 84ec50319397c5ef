/**
 * The two halves of a CycleGAN iteration as ONNX graphs, in the order of the official
 * `cycle_gan_model.py` optimize_parameters():
 *   generator step:     forward of both cycles, loss_G with the discriminators frozen, its gradient
 *                       for G_A and G_B, and their Adam update;
 *   discriminator step: loss_D_A and loss_D_B on the real images and the pooled fakes, their
 *                       gradients and the discriminators' Adam update.
 * Between the two the caller passes the generator step's fakes through the image pools.
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
import type { GanMode } from '../losses';
import { DROPOUT_SEEDS, type NetName } from '../cycleGanModel';
import { GraphBuilder } from './graphBuilder';
import { applyNetwork, type Backward } from './networkGradients';

export const STEP_SIZE = 'adam_step_size';
export const BC2_SQRT = 'adam_bc2_sqrt';
export const moment = (which: 'm' | 'v', key: string): string => `${which}/${key}`;
export const updated = (what: 'param' | 'm' | 'v', key: string): string =>
  what === 'param' ? `new/${key}` : `new_${what}/${key}`;

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
    const { keys, frozenKeys, bufferKeys, dropoutMasks } = this;
    return { model, keys, frozenKeys, bufferKeys, dropoutMasks };
  }

  /** PyTorch 1.13 Adam on every trained parameter; outputs the new parameters and moments, and the buffers' last values. */
  adam(o: { beta1: number; beta2: number; eps: number }): void {
    const b = this.b;
    const stepSize = b.input(STEP_SIZE, []);
    const bc2Sqrt = b.input(BC2_SQRT, []);
    for (const key of this.keys) {
      const where = `adam/${key}`;
      const parts = this.grads.get(key);
      if (!parts) throw new Error(`no gradient reaches ${key}`);
      const g = b.sum(parts, where);
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
  const grad = b.binary('Mul', b.unary('Sign', diff, where), b.scalar(weight / numel(b.shape(a))), where);
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

/** The generator step (see the file comment); outputs `fake_B`, `rec_A`, `fake_A`, `rec_B` and six losses. */
export function generatorStepGraph(o: StepGraphOptions, shapes: ImageShapes): StepGraph {
  const b = new GraphBuilder();
  // real_A feeds G_A; real_B feeds G_B.
  const real = imageInputs(b, o, shapes, { real_A: 'G_A', real_B: 'G_B' });
  const p = new TrainedParams(b, o.specs, ['G_A', 'G_B'], ['D_A', 'D_B']);
  // forward(): the official call order.
  const fakeB = p.apply('G_A', real.real_A, 'G_A(real_A)', DROPOUT_SEEDS.A.fake);
  const recA = p.apply('G_B', fakeB.y, 'G_B(fake_B)', DROPOUT_SEEDS.A.rec);
  const fakeA = p.apply('G_B', real.real_B, 'G_B(real_B)', DROPOUT_SEEDS.B.fake);
  const recB = p.apply('G_A', fakeA.y, 'G_A(fake_A)', DROPOUT_SEEDS.B.rec);
  const predB = p.apply('D_A', fakeB.y, 'D_A(fake_B)');
  const predA = p.apply('D_B', fakeA.y, 'D_B(fake_A)');
  const terms: Record<string, Term> = {
    G_A: ganTerm(b, o.gan_mode, predB.y, true, 1, 'loss_G_A'),
    G_B: ganTerm(b, o.gan_mode, predA.y, true, 1, 'loss_G_B'),
    cycle_A: l1Term(b, recA.y, real.real_A, o.lambda_A, 'loss_cycle_A'),
    cycle_B: l1Term(b, recB.y, real.real_B, o.lambda_B, 'loss_cycle_B'),
  };
  // Cycle A: rec_A ← G_B ← fake_B ← G_A, with D_A's verdict on fake_B joining at fake_B.
  const dFakeB = b.sum([recA.back(terms.cycle_A.grad, true)!, predB.back(terms.G_A.grad, true)!], 'd_fake_B');
  fakeB.back(dFakeB, false);
  const dFakeA = b.sum([recB.back(terms.cycle_B.grad, true)!, predA.back(terms.G_B.grad, true)!], 'd_fake_A');
  fakeA.back(dFakeA, false);
  if (o.lambda_identity > 0) {
    const idtA = p.apply('G_A', real.real_B, 'G_A(real_B)', DROPOUT_SEEDS.B.idt);
    const idtB = p.apply('G_B', real.real_A, 'G_B(real_A)', DROPOUT_SEEDS.A.idt);
    terms.idt_A = l1Term(b, idtA.y, real.real_B, o.lambda_B * o.lambda_identity, 'loss_idt_A');
    terms.idt_B = l1Term(b, idtB.y, real.real_A, o.lambda_A * o.lambda_identity, 'loss_idt_B');
    idtA.back(terms.idt_A.grad, false);
    idtB.back(terms.idt_B.grad, false);
  } else {
    terms.idt_A = terms.idt_B = { value: b.scalar(0), grad: '' };
  }
  p.adam(o);
  imageOutput(b, fakeB.y, 'fake_B');
  imageOutput(b, recA.y, 'rec_A');
  imageOutput(b, fakeA.y, 'fake_A');
  imageOutput(b, recB.y, 'rec_B');
  for (const name of ['G_A', 'cycle_A', 'idt_A', 'G_B', 'cycle_B', 'idt_B'])
    b.output(terms[name].value, `loss_${name}`);
  return p.stepGraph(b.build('cyclegan generator step'));
}

/** The discriminator step on the pooled fakes (inputs `fake_A`, `fake_B`); outputs `loss_D_A`, `loss_D_B`. */
export function discriminatorStepGraph(o: StepGraphOptions, shapes: ImageShapes): StepGraph {
  const b = new GraphBuilder();
  // D_A judges domain B (real_B, fake_B); D_B judges domain A.
  const img = imageInputs(b, o, shapes, { real_A: 'D_B', real_B: 'D_A', fake_A: 'D_B', fake_B: 'D_A' });
  const p = new TrainedParams(b, o.specs, ['D_A', 'D_B'], []);
  for (const [net, realName, fakeName] of [
    ['D_A', 'real_B', 'fake_B'],
    ['D_B', 'real_A', 'fake_A'],
  ] as const) {
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
