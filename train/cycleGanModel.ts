/**
 * The CycleGAN model: two generators, two discriminators, their optimisers and image pools, and
 * the optimisation step in the order of the official `cycle_gan_model.py`:
 *   forward → G step (D frozen) → D step on pooled, detached fakes from that same forward.
 * Naming follows the official code: G_A: A→B, G_B: B→A, D_A judges domain B, D_B judges domain A.
 */
import * as tf from '@tensorflow/tfjs';
import type { GeneratorOptions, DiscriminatorOptions, NormKind, InitKind } from '../core/arch/spec';
import { generatorSpec, discriminatorSpec } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import { TfNetwork } from './networks';
import { initStateDict, type NormalSource } from './init';
import { Adam } from './adam';
import { ganLoss, l1Loss, type GanMode } from './losses';

export const NET_NAMES = ['G_A', 'G_B', 'D_A', 'D_B'] as const;
export type NetName = (typeof NET_NAMES)[number];

/** The subset of the training options the model itself reads (official names). */
export interface ModelOptions {
  netG: string;
  netD: 'basic' | 'n_layers' | 'pixel';
  n_layers_D: number;
  ngf: number;
  ndf: number;
  norm: NormKind;
  init_type: InitKind;
  init_gain: number;
  input_nc: number;
  output_nc: number;
  no_dropout: boolean;
  gan_mode: GanMode;
  lambda_A: number;
  lambda_B: number;
  lambda_identity: number;
  lr: number;
  beta1: number;
}

/** A pool of generated images (framework-neutral so its contents can be checkpointed). */
export interface FakeImagePool {
  /** Takes a batch [N,H,W,C] and returns the batch the discriminator should see. */
  query(batch: Float32Array, shape: [number, number, number, number]): Float32Array;
}

export const LOSS_NAMES = ['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B'] as const;
export type LossName = (typeof LOSS_NAMES)[number];
export type Losses = Record<LossName, number>;

export interface Visuals {
  real_A: tf.Tensor4D;
  fake_B: tf.Tensor4D;
  rec_A: tf.Tensor4D;
  real_B: tf.Tensor4D;
  fake_A: tf.Tensor4D;
  rec_B: tf.Tensor4D;
}

export function generatorOptions(o: ModelOptions, direction: 'AtoB' | 'BtoA'): GeneratorOptions {
  const [inputNc, outputNc] = direction === 'AtoB' ? [o.input_nc, o.output_nc] : [o.output_nc, o.input_nc];
  return { netG: o.netG, inputNc, outputNc, ngf: o.ngf, norm: o.norm, useDropout: !o.no_dropout };
}

export function discriminatorOptions(o: ModelOptions, domain: 'A' | 'B'): DiscriminatorOptions {
  return {
    netD: o.netD,
    inputNc: domain === 'A' ? o.input_nc : o.output_nc,
    ndf: o.ndf,
    nLayersD: o.n_layers_D,
    norm: o.norm,
  };
}

export class CycleGanModel {
  readonly nets: Record<NetName, TfNetwork>;
  readonly optG: Adam;
  readonly optD: Adam;
  /** Advances every iteration so dropout masks differ per step yet replay exactly on resume. */
  dropoutCounter = 1;
  /** The last iteration's images (kept for sample grids; disposed on the next step). */
  visuals?: Visuals;

  constructor(
    readonly opts: ModelOptions,
    init: { rng: NormalSource } | { weights: Record<NetName, StateDict> },
    private readonly pools: { A: FakeImagePool; B: FakeImagePool },
  ) {
    if (opts.lambda_identity > 0 && opts.input_nc !== opts.output_nc) {
      throw new Error('--lambda_identity > 0 needs input_nc == output_nc (the identity loss compares G_A(B) with B)');
    }
    const specs = {
      G_A: generatorSpec(generatorOptions(opts, 'AtoB')),
      G_B: generatorSpec(generatorOptions(opts, 'BtoA')),
      // D_A judges G_A's outputs (domain B); D_B judges domain A.
      D_A: discriminatorSpec(discriminatorOptions(opts, 'B')),
      D_B: discriminatorSpec(discriminatorOptions(opts, 'A')),
    };
    const weights = (name: NetName): StateDict =>
      'weights' in init ? init.weights[name] : initStateDict(specs[name], opts.init_type, opts.init_gain, init.rng);
    this.nets = {
      G_A: new TfNetwork(specs.G_A, 'G_A', weights('G_A')),
      G_B: new TfNetwork(specs.G_B, 'G_B', weights('G_B')),
      D_A: new TfNetwork(specs.D_A, 'D_A', weights('D_A')),
      D_B: new TfNetwork(specs.D_B, 'D_B', weights('D_B')),
    };
    const adam = { lr: opts.lr, beta1: opts.beta1, beta2: 0.999, eps: 1e-8 };
    this.optG = new Adam(this.trainableParams(['G_A', 'G_B']), adam);
    this.optD = new Adam(this.trainableParams(['D_A', 'D_B']), adam);
  }

  /** Trainable parameters keyed `NET.key`, the key space of optimiser state and gradients. */
  trainableParams(names: readonly NetName[]): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const n of names) {
      const net = this.nets[n];
      for (const p of net.paramSpecs) if (p.trainable) out.set(`${n}.${p.key}`, net.params.get(p.key)!);
    }
    return out;
  }

  set learningRate(lr: number) {
    this.optG.lr = lr;
    this.optD.lr = lr;
  }

  get learningRate(): number {
    return this.optG.lr;
  }

  /** One training iteration on NHWC batches in [-1, 1]. Returns the eight official loss terms. */
  optimize(realA: tf.Tensor4D, realB: tf.Tensor4D): Losses {
    this.disposeVisuals();
    const g = this.generatorGradients(realA, realB);
    this.optG.apply(g.grads);
    disposeMap(g.grads);
    // The D step sees the fakes of the forward above (detached: plain tensors, off the tape), through the pools.
    const pooledB = this.queryPool(this.pools.B, g.fakeB);
    const pooledA = this.queryPool(this.pools.A, g.fakeA);
    const d = this.discriminatorGradients(realA, realB, pooledA, pooledB);
    this.optD.apply(d.grads);
    disposeMap(d.grads);
    pooledA.dispose();
    pooledB.dispose();
    this.visuals = {
      real_A: tf.keep(realA.clone()),
      fake_B: g.fakeB,
      rec_A: g.recA,
      real_B: tf.keep(realB.clone()),
      fake_A: g.fakeA,
      rec_B: g.recB,
    };
    const all: Record<string, number> = { ...g.losses, ...d.losses };
    // The official order (D_A, G_A, cycle_A, idt_A, D_B, …) for logs and reports.
    return Object.fromEntries(LOSS_NAMES.map((k) => [k, all[k]])) as Losses;
  }

  /**
   * Forward of both cycles and the gradients of loss_G for the generators' parameters. The
   * discriminators are used but not differentiated (official: set_requires_grad(D, False)).
   * Returned images are kept tensors owned by the caller.
   */
  generatorGradients(realA: tf.Tensor4D, realB: tf.Tensor4D) {
    const o = this.opts;
    const { G_A, G_B, D_A, D_B } = this.nets;
    const seed = this.dropoutCounter;
    this.dropoutCounter += 8;
    const train = (k: number) => ({ training: true, dropoutSeed: seed + k });
    const dFrozen = { training: true, frozen: true };
    const params = this.trainableParams(['G_A', 'G_B']);
    const kept: Record<string, tf.Tensor> = {};
    const r = tf.variableGrads(() => {
      const fakeB = G_A.apply(realA, train(0));
      const recA = G_B.apply(fakeB, train(1));
      const fakeA = G_B.apply(realB, train(2));
      const recB = G_A.apply(fakeA, train(3));
      let idtA: tf.Scalar = tf.scalar(0);
      let idtB: tf.Scalar = tf.scalar(0);
      if (o.lambda_identity > 0) {
        idtA = tf.mul(l1Loss(G_A.apply(realB, train(4)), realB), o.lambda_B * o.lambda_identity);
        idtB = tf.mul(l1Loss(G_B.apply(realA, train(5)), realA), o.lambda_A * o.lambda_identity);
      }
      const gA = ganLoss(o.gan_mode, D_A.apply(fakeB, dFrozen), true);
      const gB = ganLoss(o.gan_mode, D_B.apply(fakeA, dFrozen), true);
      const cycA = tf.mul(l1Loss(recA, realA), o.lambda_A);
      const cycB = tf.mul(l1Loss(recB, realB), o.lambda_B);
      Object.assign(kept, { fakeB, recA, fakeA, recB, terms: tf.stack([gA, cycA, idtA, gB, cycB, idtB]) });
      for (const t of Object.values(kept)) tf.keep(t);
      return tf.addN([gA, gB, cycA, cycB, idtA, idtB]) as tf.Scalar;
    }, [...params.values()]);
    const v = kept.terms.dataSync();
    kept.terms.dispose();
    r.value.dispose();
    return {
      grads: this.byKey(params, r.grads),
      losses: { G_A: v[0], cycle_A: v[1], idt_A: v[2], G_B: v[3], cycle_B: v[4], idt_B: v[5] },
      fakeB: kept.fakeB as tf.Tensor4D,
      recA: kept.recA as tf.Tensor4D,
      fakeA: kept.fakeA as tf.Tensor4D,
      recB: kept.recB as tf.Tensor4D,
    };
  }

  /** loss_D_A + loss_D_B (each 0.5·(real + fake)) and their gradients for the discriminators' parameters. */
  discriminatorGradients(realA: tf.Tensor4D, realB: tf.Tensor4D, fakeA: tf.Tensor4D, fakeB: tf.Tensor4D) {
    const o = this.opts;
    const { D_A, D_B } = this.nets;
    const train = { training: true };
    const params = this.trainableParams(['D_A', 'D_B']);
    let terms: tf.Tensor | undefined;
    const r = tf.variableGrads(() => {
      const half = (real: tf.Scalar, fake: tf.Scalar) => tf.mul(tf.add(real, fake), 0.5) as tf.Scalar;
      const dA = half(
        ganLoss(o.gan_mode, D_A.apply(realB, train), true),
        ganLoss(o.gan_mode, D_A.apply(fakeB, train), false),
      );
      const dB = half(
        ganLoss(o.gan_mode, D_B.apply(realA, train), true),
        ganLoss(o.gan_mode, D_B.apply(fakeA, train), false),
      );
      terms = tf.keep(tf.stack([dA, dB]));
      return tf.add(dA, dB) as tf.Scalar;
    }, [...params.values()]);
    const v = terms!.dataSync();
    terms!.dispose();
    r.value.dispose();
    return { grads: this.byKey(params, r.grads), losses: { D_A: v[0], D_B: v[1] } };
  }

  /** Inference (no dropout, batch norm with running statistics, as the official test with eval()). */
  translate(x: tf.Tensor4D, direction: 'AtoB' | 'BtoA'): tf.Tensor4D {
    const net = direction === 'AtoB' ? this.nets.G_A : this.nets.G_B;
    return tf.tidy(() => net.apply(x, { training: false }));
  }

  private queryPool(pool: FakeImagePool, fake: tf.Tensor4D): tf.Tensor4D {
    const shape = fake.shape as [number, number, number, number];
    return tf.tensor4d(pool.query(fake.dataSync() as Float32Array, shape), shape);
  }

  private byKey(params: Map<string, tf.Variable>, grads: tf.NamedTensorMap): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [key, v] of params) {
      const gr = grads[v.name];
      if (gr) out.set(key, gr);
    }
    return out;
  }

  disposeVisuals(): void {
    if (!this.visuals) return;
    for (const t of Object.values(this.visuals)) t.dispose();
    this.visuals = undefined;
  }

  dispose(): void {
    this.disposeVisuals();
    for (const n of NET_NAMES) this.nets[n].dispose();
    this.optG.dispose();
    this.optD.dispose();
  }
}

function disposeMap(m: Map<string, tf.Tensor>): void {
  for (const t of m.values()) t.dispose();
}
