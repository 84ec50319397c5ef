/**
 * The training model on onnxruntime (the CPU engine): each iteration runs two ONNX graphs built
 * from the architecture description (stepGraphs.ts), the generator step and the discriminator step,
 * with the image pools in between. onnxruntime's MLAS kernels use every core through its intra-op
 * thread pool, so one session scales with the machine instead of with worker threads.
 *
 * Same math and same state as the tfjs models (trainingModel.ts): weights stay in state_dict
 * layout, Adam moments convert to the checkpoint's tfjs layout on export, so a run saved by one
 * engine resumes in the other.
 */
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import { paramSpecs, type NetworkSpec } from '../../core/arch/spec';
import { numel, type StateDict } from '../../core/arch/stateDict';
import { Rng } from '../../core/rng';
import { ADAM_DEFAULTS, adamBiasCorrection } from '../adam';
import {
  checkIdentityLoss,
  LOSS_NAMES,
  NET_NAMES,
  networkSpecs,
  sidePool,
  VISUAL_NAMES,
  type AdamMoments,
  type Losses,
  type NetName,
  type PoolName,
  type VisualName,
} from '../cycleGanModel';
import { ImagePool } from '../imagePool';
import type { ImageBatch, ModelState, Shape4, TrainingModelOptions } from '../modelState';
import type { TrainingModel } from '../trainingModel';
import {
  BC2_SQRT,
  discriminatorStepGraph,
  generatorStepGraph,
  moment,
  STEP_SIZE,
  updated,
  type ImageShapes,
  type StepGraph,
  type StepGraphOptions,
} from './stepGraphs';
import { dropoutMultiplier } from './dropoutMask';

/** Sessions kept per step kind; more shapes than this only come from un-cropped preprocessing. */
export const MAX_SESSIONS = 4;

/** Rank-4 moments: state_dict layout [a, b, c, d] ↔ the checkpoint's tfjs layout [c, d, b, a]. */
function permute4(data: Float32Array, shape: number[], toTfjs: boolean): Float32Array {
  const [a, b, c, d] = shape; // torch layout
  const out = new Float32Array(data.length);
  for (let i = 0; i < a; i++)
    for (let j = 0; j < b; j++)
      for (let k = 0; k < c; k++)
        for (let l = 0; l < d; l++) {
          const torch = ((i * b + j) * c + k) * d + l;
          const tfjs = ((k * d + l) * b + j) * a + i;
          if (toTfjs) out[tfjs] = data[torch];
          else out[torch] = data[tfjs];
        }
  return out;
}

interface Optimiser {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

interface Compiled {
  graph: StepGraph;
  session: ort.InferenceSession;
}

export class OrtTrainingModel implements TrainingModel {
  readonly workers = 1;
  private readonly specs: Record<NetName, NetworkSpec>;
  private readonly graphOptions: StepGraphOptions;
  /** `NET.key` → values (state_dict layout); replaced, never mutated, each step. */
  private readonly params = new Map<string, Float32Array>();
  private readonly shapes = new Map<string, number[]>();
  /** Keys Adam updates (buffers such as batch norm's running statistics are not among them). */
  private readonly trainable = new Set<string>();
  private readonly opt: Record<'G' | 'D', Optimiser> = {
    G: { step: 0, m: new Map(), v: new Map() },
    D: { step: 0, m: new Map(), v: new Map() },
  };
  private pools = {} as Record<PoolName, ImagePool>;
  private streams = {} as Record<PoolName, Rng>;
  private dropoutCounter = 1;
  private lr: number;
  private last: Partial<Record<VisualName, ImageBatch>> = {};
  private readonly sessions = { G: new Map<string, Compiled>(), D: new Map<string, Compiled>() };
  private evicted = false;

  /** Wall time of each step graph's last run (ms). */
  readonly lastRunMs = { G: 0, D: 0 };

  private constructor(
    private readonly opts: TrainingModelOptions,
    /** onnxruntime intra-op threads. */
    readonly threads: number,
    private readonly log: (msg: string) => void,
    /** Profile every session: onnxruntime writes `<profilePrefix><G|D>_<date>.json` (bench/ortProfile.ts). */
    private readonly profilePrefix?: string,
  ) {
    checkIdentityLoss(opts);
    this.specs = networkSpecs(opts);
    this.graphOptions = {
      specs: this.specs,
      gan_mode: opts.gan_mode,
      lambda_A: opts.lambda_A,
      lambda_B: opts.lambda_B,
      lambda_identity: opts.lambda_identity,
      beta1: opts.beta1,
      ...ADAM_DEFAULTS,
    };
    this.lr = opts.lr;
    for (const net of NET_NAMES)
      for (const p of paramSpecs(this.specs[net])) {
        this.shapes.set(`${net}.${p.key}`, p.shape);
        if (p.trainable) this.trainable.add(`${net}.${p.key}`);
      }
  }

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
    const m = new OrtTrainingModel(opts, threads ?? os.availableParallelism(), log, profilePrefix);
    await m.importState(state);
    return m;
  }

  get learningRate(): number {
    return this.lr;
  }

  async setLearningRate(lr: number): Promise<void> {
    this.lr = lr;
  }

  async optimize(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<Losses> {
    const real = { real_A: tensor(a, shapeA), real_B: tensor(b, shapeB) };
    const nhw = (s: Shape4): [number, number, number] => [s[0], s[1], s[2]];
    const gShapes = { real_A: nhw(shapeA), real_B: nhw(shapeB) };
    const g = await this.compiled('G', gShapes, generatorStepGraph);
    const gOut = await this.run('G', g, {
      ...real,
      ...this.paramFeeds(g.graph),
      ...this.adamFeeds('G', g.graph),
      ...this.dropoutFeeds(g.graph),
    });
    this.applyUpdate('G', g.graph, gOut);
    this.dropoutCounter += 8; // as the tfjs model advances it, so states agree across engines

    const image = (name: string): ImageBatch => {
      const t = gOut[name];
      return { data: t.data as Float32Array, shape: t.dims as Shape4 };
    };
    const fakeB = image('fake_B');
    const fakeA = image('fake_A');
    // Side A's fakes (fake_B) go through pool B, side B's through pool A.
    const pooledB = this.pools[sidePool('A')].queryWithShape(fakeB.data, fakeB.shape, this.streams[sidePool('A')]);
    const pooledA = this.pools[sidePool('B')].queryWithShape(fakeA.data, fakeA.shape, this.streams[sidePool('B')]);
    const dShapes = { ...gShapes, fake_A: nhw(pooledA.shape), fake_B: nhw(pooledB.shape) };
    const d = await this.compiled('D', dShapes, discriminatorStepGraph);
    const dOut = await this.run('D', d, {
      ...real,
      fake_A: tensor(pooledA.data, pooledA.shape),
      fake_B: tensor(pooledB.data, pooledB.shape),
      ...this.paramFeeds(d.graph),
      ...this.adamFeeds('D', d.graph),
    });
    this.applyUpdate('D', d.graph, dOut);

    // Copies of the reals: the caller may reuse its batch buffers for the next iteration.
    this.last = {
      real_A: { data: a.slice(), shape: shapeA },
      fake_B: fakeB,
      rec_A: image('rec_A'),
      real_B: { data: b.slice(), shape: shapeB },
      fake_A: fakeA,
      rec_B: image('rec_B'),
    };
    const value = (name: string) => (gOut[name] ?? dOut[name]).data[0] as number;
    return Object.fromEntries(LOSS_NAMES.map((k) => [k, value(`loss_${k}`)])) as Losses;
  }

  async visuals(): Promise<Record<VisualName, ImageBatch> | undefined> {
    return VISUAL_NAMES.every((n) => this.last[n]) ? (this.last as Record<VisualName, ImageBatch>) : undefined;
  }

  async exportState(): Promise<ModelState> {
    const nets = Object.fromEntries(NET_NAMES.map((n) => [n, new Map()])) as Record<NetName, StateDict>;
    for (const [key, data] of this.params) {
      const dot = key.indexOf('.');
      nets[key.slice(0, dot) as NetName].set(key.slice(dot + 1), { shape: [...this.shapes.get(key)!], data });
    }
    const moments = (o: Optimiser): AdamMoments => {
      const tfjs = (m: Map<string, Float32Array>) =>
        new Map(
          [...m].map(([key, v]) => {
            const shape = this.shapes.get(key)!;
            return [key, shape.length === 4 ? permute4(v, shape, true) : v];
          }),
        );
      return { step: o.step, m: tfjs(o.m), v: tfjs(o.v) };
    };
    return {
      nets,
      adam: { G: moments(this.opt.G), D: moments(this.opt.D) },
      pools: { A: this.pools.A.contents(), B: this.pools.B.contents() },
      poolRng: { A: this.streams.A.state(), B: this.streams.B.state() },
      dropoutCounter: this.dropoutCounter,
      lr: this.lr,
    };
  }

  async importState(state: ModelState): Promise<void> {
    for (const net of NET_NAMES) {
      const sd = state.nets[net];
      if (!sd) throw new Error(`no weights for ${net}`);
      for (const p of paramSpecs(this.specs[net])) {
        const t = sd.get(p.key);
        if (!t) throw new Error(`${net}: missing parameter '${p.key}'`);
        if (
          t.shape.length !== p.shape.length ||
          t.shape.some((d, i) => d !== p.shape[i]) ||
          t.data.length !== numel(p.shape)
        )
          throw new Error(`${net}: parameter '${p.key}' has shape [${t.shape}], expected [${p.shape}]`);
        this.params.set(`${net}.${p.key}`, t.data);
      }
    }
    for (const [which, nets] of [
      ['G', ['G_A', 'G_B']],
      ['D', ['D_A', 'D_B']],
    ] as const) {
      const keys = [...this.trainable].filter((k) => nets.some((n) => k.startsWith(`${n}.`)));
      const src = state.adam?.[which];
      const o: Optimiser = { step: src?.step ?? 0, m: new Map(), v: new Map() };
      for (const key of keys) {
        const shape = this.shapes.get(key)!;
        for (const part of ['m', 'v'] as const) {
          const given = src?.[part].get(key);
          if (src && !given) throw new Error(`optimizer state has no moments for '${key}'`);
          if (given && given.length !== numel(shape)) throw new Error(`optimizer moment '${key}' has the wrong size`);
          o[part].set(
            key,
            !given ? new Float32Array(numel(shape)) : shape.length === 4 ? permute4(given, shape, false) : given,
          );
        }
      }
      this.opt[which] = o;
    }
    for (const p of ['A', 'B'] as const) {
      this.pools[p] = ImagePool.fromState(this.opts.pool_size, state.pools[p].images);
      this.streams[p] = Rng.fromState(state.poolRng[p]);
    }
    this.dropoutCounter = state.dropoutCounter;
    this.lr = state.lr;
  }

  /** How many step sessions are loaded, per kind (at most MAX_SESSIONS each). */
  loadedSessions(): Record<'G' | 'D', number> {
    return { G: this.sessions.G.size, D: this.sessions.D.size };
  }

  async dispose(): Promise<void> {
    for (const cache of Object.values(this.sessions)) {
      for (const c of cache.values()) await c.session.release();
      cache.clear();
    }
  }

  /** The step graph of `kind` for these image shapes, built and loaded on first use. */
  private async compiled(
    kind: 'G' | 'D',
    shapes: ImageShapes,
    build: (o: StepGraphOptions, shapes: ImageShapes) => StepGraph,
  ): Promise<Compiled> {
    const key = JSON.stringify(shapes);
    const cache = this.sessions[kind];
    let c = cache.get(key);
    if (c) {
      // Most recently used last: the session evicted next is the one unused longest.
      cache.delete(key);
      cache.set(key, c);
      return c;
    }
    if (cache.size >= MAX_SESSIONS) {
      if (!this.evicted)
        this.log(
          `onnxruntime engine: more than ${MAX_SESSIONS} image sizes, so step graphs are rebuilt as sizes come back ` +
            '(seconds each for a full-size network); with many sizes, a --preprocess with crop or --engine tfjs trains faster',
        );
      this.evicted = true;
      const [oldKey, old] = cache.entries().next().value as [string, Compiled];
      cache.delete(oldKey);
      await old.session.release();
    }
    const graph = build(this.graphOptions, shapes);
    const session = await ort.InferenceSession.create(graph.model, {
      ...sessionOptions(this.threads),
      ...(this.profilePrefix && { enableProfiling: true, profileFilePrefix: `${this.profilePrefix}${kind}` }),
    });
    c = { graph, session };
    cache.set(key, c);
    return c;
  }

  /** The session of the last `kind` step (for reading its profile). */
  lastSession(kind: 'G' | 'D'): ort.InferenceSession {
    const c = this.lastUsed[kind];
    if (!c) throw new Error(`no ${kind} step has run yet`);
    return c.session;
  }

  private readonly lastUsed: Partial<Record<'G' | 'D', Compiled>> = {};

  private async run(kind: 'G' | 'D', c: Compiled, feeds: Record<string, ort.Tensor>) {
    const t0 = performance.now();
    const out = await c.session.run(feeds);
    this.lastRunMs[kind] = performance.now() - t0;
    this.lastUsed[kind] = c;
    return out;
  }

  private paramFeeds(graph: StepGraph): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const key of [...graph.keys, ...graph.frozenKeys, ...graph.bufferKeys])
      feeds[key] = tensor(this.params.get(key)!, this.shapes.get(key)!);
    return feeds;
  }

  /** This iteration's dropout multipliers, drawn as the tfjs engine draws them (same counter, same seeds). */
  private dropoutFeeds(graph: StepGraph): Record<string, ort.Tensor> {
    return Object.fromEntries(
      graph.dropoutMasks.map((m) => [
        m.name,
        tensor(dropoutMultiplier(m.shape, m.rate, this.dropoutCounter + m.seedOffset), m.shape),
      ]),
    );
  }

  private adamFeeds(which: 'G' | 'D', graph: StepGraph): Record<string, ort.Tensor> {
    const o = this.opt[which];
    const { stepSize, bc2Sqrt } = adamBiasCorrection({ ...this.graphOptions, lr: this.lr }, o.step + 1);
    const feeds: Record<string, ort.Tensor> = {
      [STEP_SIZE]: new ort.Tensor('float32', Float32Array.of(stepSize), []),
      [BC2_SQRT]: new ort.Tensor('float32', Float32Array.of(bc2Sqrt), []),
    };
    for (const key of graph.keys) {
      const shape = this.shapes.get(key)!;
      feeds[moment('m', key)] = tensor(o.m.get(key)!, shape);
      feeds[moment('v', key)] = tensor(o.v.get(key)!, shape);
    }
    return feeds;
  }

  private applyUpdate(which: 'G' | 'D', graph: StepGraph, out: ort.InferenceSession.OnnxValueMapType): void {
    const o = this.opt[which];
    o.step++;
    for (const key of graph.keys) {
      this.params.set(key, out[updated('param', key)].data as Float32Array);
      o.m.set(key, out[updated('m', key)].data as Float32Array);
      o.v.set(key, out[updated('v', key)].data as Float32Array);
    }
    for (const key of graph.bufferKeys) this.params.set(key, out[updated('param', key)].data as Float32Array);
  }
}

/** How the engine loads its step graphs: CPU kernels on `threads` intra-op threads, nodes in order. */
export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // The memory pattern gives every tensor of a run its own slot in one block (5.7 GB at 256²);
    // the arena alone reuses freed chunks (3.4 GB), at the same speed.
    enableMemPattern: false,
  };
}

function tensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, shape);
}
