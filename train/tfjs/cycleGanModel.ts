/**
 * The CycleGAN model on tfjs: two generators, two discriminators, their optimisers and image pools,
 * and the optimisation step in the order of the official `cycle_gan_model.py`:
 *   forward → G step (D frozen) → D step on pooled, detached fakes from that same forward.
 * The loss splits into two sides (train/model/cycleGan.ts). A model holds both sides
 * (single-thread training) or one (a worker of train/parallel, which adds the other worker's G
 * gradient before the Adam step); both compute a side with the same `sideTerms`.
 */
import * as tf from '@tensorflow/tfjs';
import type { StateDict } from '../../core/arch/stateDict';
import { clearConvCaches } from '../../core/tf/convAdjoint';
import type { AdamMoments } from '../model/adamConfig';
import { ADAM_DEFAULTS } from '../model/adamConfig';
import {
  checkIdentityLoss,
  DROPOUT_SEEDS_PER_ITERATION,
  initialWeights,
  networkSpecs,
  SIDE,
  SIDES,
  type FakeImagePool,
  type ModelOptions,
  type NetName,
  type NetsState,
  type PoolName,
  type Side,
} from '../model/cycleGan';
import type { NormalSource } from '../model/init';
import type { ImageBatch } from '../model/modelState';
import { LOSS_NAMES, type Losses, type VisualName } from '../model/trainingModel';
import { TfNetwork } from './networks';
import { Adam } from './adam';
import { ganLoss, l1Loss } from './losses';

/** The generator half of an iteration: the owned sides' loss_G terms, gradients and images (kept tensors). */
export interface GeneratorGradients {
  /** Gradient of the owned sides' part of loss_G, by parameter key (`G_A.…`, `G_B.…`). */
  grads: Map<string, tf.Tensor>;
  losses: Partial<Losses>;
  images: Partial<Record<VisualName, tf.Tensor4D>>;
}

export class CycleGanModel {
  /** G_A and G_B always; D_A and D_B for the sides this model holds. */
  readonly nets: Partial<Record<NetName, TfNetwork>> = {};
  readonly optG: Adam;
  readonly optD: Adam;
  /** Advances every iteration so dropout masks differ per step yet replay exactly on resume. */
  dropoutCounter = 1;
  /** The last iteration's images (kept for sample grids; disposed on the next step). */
  private lastImages: Partial<Record<VisualName, tf.Tensor4D>> = {};

  constructor(
    readonly opts: ModelOptions,
    init: { rng: NormalSource } | { weights: Partial<Record<NetName, StateDict>> },
    /** The pools of the owned sides' fakes: pool B (fake_B) for side A, pool A for side B. */
    private readonly pools: Partial<Record<PoolName, FakeImagePool>>,
    readonly sides: readonly Side[] = SIDES,
  ) {
    checkIdentityLoss(opts);
    if (sides.length === 0 || new Set(sides).size !== sides.length) throw new Error(`bad model sides [${sides}]`);
    const specs = networkSpecs(opts);
    const weights = 'weights' in init ? init.weights : initialWeights(opts, init.rng);
    for (const n of ['G_A', 'G_B', ...sides.map((s) => SIDE[s].D)] as NetName[]) {
      const w = weights[n];
      if (!w) throw new Error(`no weights for ${n}`);
      this.nets[n] = new TfNetwork(specs[n], n, w);
    }
    for (const s of sides) if (!pools[SIDE[s].pool]) throw new Error(`side ${s} needs image pool ${SIDE[s].pool}`);
    const adam = { lr: opts.lr, beta1: opts.beta1, ...ADAM_DEFAULTS };
    this.optG = new Adam(this.trainableParams(['G_A', 'G_B']), adam);
    this.optD = new Adam(this.trainableParams(this.discriminators), adam);
  }

  /** The discriminators this model holds. */
  get discriminators(): NetName[] {
    return this.sides.map((s) => SIDE[s].D);
  }

  net(name: NetName): TfNetwork {
    const n = this.nets[name];
    if (!n) throw new Error(`this model (sides ${this.sides.join(', ')}) has no ${name}`);
    return n;
  }

  /** Trainable parameters keyed `NET.key`, the key space of optimiser state and gradients. */
  trainableParams(names: readonly NetName[]): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const n of names) {
      const net = this.net(n);
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

  /**
   * One training iteration on NHWC batches in [-1, 1]. Returns the eight official loss terms; with
   * `readLosses` false they are not read back (on a GPU that read waits for the whole iteration).
   */
  optimize(realA: tf.Tensor4D, realB: tf.Tensor4D): Promise<Losses>;
  optimize(realA: tf.Tensor4D, realB: tf.Tensor4D, readLosses: boolean): Promise<Losses | undefined>;
  async optimize(realA: tf.Tensor4D, realB: tf.Tensor4D, readLosses = true): Promise<Losses | undefined> {
    if (this.sides.length !== SIDES.length) throw new Error('optimize() needs a model of both sides');
    const g = await this.generatorGradients(realA, realB, readLosses);
    const losses = await this.completeStep(realA, realB, g, g.grads, readLosses);
    if (!readLosses) return undefined;
    // The official order (D_A, G_A, cycle_A, idt_A, D_B, …) for logs and reports.
    return Object.fromEntries(LOSS_NAMES.map((k) => [k, losses[k]])) as Losses;
  }

  /**
   * The rest of an iteration after `generatorGradients`: the G step with `grads` (the gradient of
   * the whole loss_G), then the D step of the owned sides on their pooled fakes. Disposes `g.grads`
   * and `grads`; keeps `g.images` for sample grids. Returns all loss terms of the owned sides (none
   * when `readLosses` is false).
   */
  async completeStep(
    realA: tf.Tensor4D,
    realB: tf.Tensor4D,
    g: GeneratorGradients,
    grads: Map<string, tf.Tensor>,
    readLosses = true,
  ): Promise<Partial<Losses>> {
    this.optG.apply(grads);
    disposeMap(grads);
    if (grads !== g.grads) disposeMap(g.grads);
    // The D step sees the fakes of the forward above (detached: plain tensors, off the tape), through the pools.
    const pooled: Partial<Record<VisualName, tf.Tensor4D>> = {};
    for (const side of this.sides) {
      const s = SIDE[side];
      pooled[s.images.fake] = await this.queryPool(this.pools[s.pool]!, g.images[s.images.fake]!);
    }
    const d = await this.discriminatorGradients(realA, realB, pooled, readLosses);
    this.optD.apply(d.grads);
    disposeMap(d.grads);
    for (const t of Object.values(pooled)) t.dispose();
    this.disposeVisuals();
    const reals = { A: realA, B: realB };
    for (const side of this.sides) {
      const s = SIDE[side];
      this.lastImages[s.images.real] = tf.keep(reals[side].clone());
      this.lastImages[s.images.fake] = g.images[s.images.fake];
      this.lastImages[s.images.rec] = g.images[s.images.rec];
    }
    return { ...g.losses, ...d.losses };
  }

  /**
   * Terms of one side's part of loss_G, to be called inside a gradient function. The discriminator
   * is used but not differentiated (official: set_requires_grad(D, False)). The identity term is
   * returned as a thunk so that callers can run the generators in the official order.
   */
  private sideTerms(side: Side, real: tf.Tensor4D, seed: number) {
    const o = this.opts;
    const s = SIDE[side];
    const G = this.net(s.G);
    const F = this.net(s.inverse);
    const lambda = o[s.lambda];
    const train = (k: number) => ({ training: true, dropoutSeed: seed + k });
    const fake = G.apply(real, train(s.seeds.fake));
    const rec = F.apply(fake, train(s.seeds.rec));
    const gan = ganLoss(o.gan_mode, this.net(s.D).apply(fake, { training: true, frozen: true }), true);
    const cycle = tf.mul(l1Loss(rec, real), lambda) as tf.Scalar;
    // F maps into this side's domain, so it should leave this side's real images unchanged.
    const identity = (): tf.Scalar =>
      o.lambda_identity > 0
        ? (tf.mul(l1Loss(F.apply(real, train(s.seeds.idt)), real), lambda * o.lambda_identity) as tf.Scalar)
        : tf.scalar(0);
    return { fake, rec, gan, cycle, identity };
  }

  /**
   * Forward of the owned sides and the gradient of their part of loss_G for the generators'
   * parameters. Returned images are kept tensors owned by the caller. `readLosses` false: the loss
   * terms are not read back (and not returned), so the device need not finish before the next step.
   *
   * Each side is differentiated on its own tape and the gradients are then added: exactly what two
   * workers compute (train/parallel), so training on one thread and on two agree bit for bit. With
   * batch norm both sides share one tape instead, so that the generators run in the official order
   * (forward(), then backward_G's idt_A, idt_B) that their running statistics depend on; batch norm
   * therefore trains on one thread only.
   */
  async generatorGradients(realA: tf.Tensor4D, realB: tf.Tensor4D, readLosses = true): Promise<GeneratorGradients> {
    const seed = this.dropoutCounter;
    this.dropoutCounter += DROPOUT_SEEDS_PER_ITERATION;
    const reals = { A: realA, B: realB };
    const params = this.trainableParams(['G_A', 'G_B']);
    const tapes = this.opts.norm === 'batch' ? [this.sides] : this.sides.map((s) => [s]);
    const out: GeneratorGradients = { grads: new Map(), losses: {}, images: {} };
    for (const sides of tapes) {
      let terms: tf.Tensor | undefined;
      const r = tf.variableGrads(() => {
        const parts = sides.map((side) => ({ side, ...this.sideTerms(side, reals[side], seed) }));
        // Identity terms after all cycles, side B's (idt_A) first: the official order on a shared tape.
        const idt = new Map([...parts].reverse().map((p) => [p.side, p.identity()] as const));
        const perSide = parts.map((p) => [p.gan, p.cycle, idt.get(p.side)!]);
        for (const p of parts) {
          out.images[SIDE[p.side].images.fake] = tf.keep(p.fake);
          out.images[SIDE[p.side].images.rec] = tf.keep(p.rec);
        }
        terms = tf.keep(tf.stack(perSide.flat()));
        return tf.addN(perSide.map((t) => tf.addN(t))) as tf.Scalar;
      }, [...params.values()]);
      const v = readLosses ? await terms!.data() : undefined;
      terms!.dispose();
      r.value.dispose();
      if (v)
        sides.forEach((side, i) => {
          const l = SIDE[side].losses;
          [out.losses[l.gan], out.losses[l.cycle], out.losses[l.idt]] = [v[3 * i], v[3 * i + 1], v[3 * i + 2]];
        });
      for (const [key, g] of this.byKey(params, r.grads)) {
        const sum = out.grads.get(key);
        out.grads.set(key, sum ? tf.add(sum, g) : g);
        if (sum) tf.dispose([sum, g]);
      }
    }
    return out;
  }

  /** The owned sides' loss_D_X (each 0.5·(real + fake)) and their gradients for the discriminators' parameters. */
  async discriminatorGradients(
    realA: tf.Tensor4D,
    realB: tf.Tensor4D,
    fakes: Partial<Record<VisualName, tf.Tensor4D>>,
    readLosses = true,
  ) {
    const o = this.opts;
    const reals = { A: realA, B: realB };
    const train = { training: true };
    const params = this.trainableParams(this.discriminators);
    let terms: tf.Tensor | undefined;
    const r = tf.variableGrads(() => {
      const perSide = this.sides.map((side) => {
        const s = SIDE[side];
        const D = this.net(s.D);
        const fake = fakes[s.images.fake];
        if (!fake) throw new Error(`discriminatorGradients: no ${s.images.fake}`);
        const real = ganLoss(o.gan_mode, D.apply(reals[s.other], train), true);
        return tf.mul(tf.add(real, ganLoss(o.gan_mode, D.apply(fake, train), false)), 0.5) as tf.Scalar;
      });
      terms = tf.keep(tf.stack(perSide));
      return tf.addN(perSide) as tf.Scalar;
    }, [...params.values()]);
    const v = readLosses ? await terms!.data() : undefined;
    terms!.dispose();
    r.value.dispose();
    const losses: Partial<Losses> = {};
    if (v) this.sides.forEach((side, i) => (losses[SIDE[side].losses.d] = v[i]));
    return { grads: this.byKey(params, r.grads), losses };
  }

  /** The last iteration's images of the owned sides (NHWC values), for sample grids. */
  async visualImages(): Promise<Partial<Record<VisualName, ImageBatch>>> {
    const out: Partial<Record<VisualName, ImageBatch>> = {};
    for (const [name, t] of Object.entries(this.lastImages) as [VisualName, tf.Tensor4D][]) {
      out[name] = { data: (await t.data()) as Float32Array, shape: [...t.shape] };
    }
    return out;
  }

  /** Weights of the held networks and the optimiser state, in checkpoint layout. */
  async exportState(): Promise<NetsState> {
    const nets: NetsState['nets'] = {};
    for (const [n, net] of Object.entries(this.nets) as [NetName, TfNetwork][]) nets[n] = await net.toStateDict();
    return {
      nets,
      adam: { G: await this.optG.moments(), D: await this.optD.moments() },
      dropoutCounter: this.dropoutCounter,
    };
  }

  /**
   * Loads weights of the held networks, and optimiser moments for their parameters (`adam`
   * absent: fresh optimisers). Extra networks and moments (another side's) are ignored.
   */
  importState(s: {
    nets: Partial<Record<NetName, StateDict>>;
    adam?: Record<'G' | 'D', AdamMoments>;
    dropoutCounter: number;
  }): void {
    for (const [n, net] of Object.entries(this.nets) as [NetName, TfNetwork][]) {
      const w = s.nets[n];
      if (!w) throw new Error(`no weights for ${n}`);
      net.loadStateDict(w);
    }
    if (s.adam) {
      const held = (m: Map<string, Float32Array>) =>
        new Map([...m].filter(([key]) => this.nets[key.slice(0, key.indexOf('.')) as NetName] !== undefined));
      for (const [which, opt] of [
        ['G', this.optG],
        ['D', this.optD],
      ] as const) {
        const a = s.adam[which];
        opt.loadState({ step: a.step, m: held(a.m), v: held(a.v) });
      }
    } else {
      this.optG.reset();
      this.optD.reset();
    }
    this.dropoutCounter = s.dropoutCounter;
  }

  /** Inference (no dropout, batch norm with running statistics, as the official test with eval()). */
  translate(x: tf.Tensor4D, direction: 'AtoB' | 'BtoA'): tf.Tensor4D {
    const net = this.net(direction === 'AtoB' ? 'G_A' : 'G_B');
    return tf.tidy(() => net.apply(x, { training: false }));
  }

  private async queryPool(pool: FakeImagePool, fake: tf.Tensor4D): Promise<tf.Tensor4D> {
    if (pool.passThrough) return fake.clone();
    const shape = fake.shape as [number, number, number, number];
    const r = pool.query((await fake.data()) as Float32Array, shape);
    return tf.tensor4d(r.data, r.shape);
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
    for (const t of Object.values(this.lastImages)) t.dispose();
    this.lastImages = {};
  }

  dispose(): void {
    this.disposeVisuals();
    for (const net of Object.values(this.nets)) net.dispose();
    this.optG.dispose();
    this.optD.dispose();
    clearConvCaches(); // filters derived from the weights just freed
  }
}

function disposeMap(m: Map<string, tf.Tensor>): void {
  for (const t of m.values()) t.dispose();
}
