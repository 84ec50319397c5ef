/**
 * The plumbing of a training model on onnxruntime (the CPU engine), whatever part of the
 * iteration it computes: the weights, Adam moments, image pools and dropout counter it holds, the
 * step sessions it builds from ONNX graphs (stepGraphs.ts) and keeps per image size, and the
 * feeds and updates of a step run. OrtTrainingModel (both sides, this thread) and OrtSideModel
 * (one side, in a worker) add only the order of the runs.
 *
 * Same math and same state as the tfjs models (train/model/trainingModel.ts): weights stay in state_dict
 * layout, Adam moments convert to the checkpoint's tfjs layout on export, so a run saved by one
 * engine resumes in the other.
 */
import {
  createSession,
  float32Tensor,
  trainingSessionOptions,
  type OrtSession,
  type OrtTensor,
  type OrtValues,
} from '../../core/onnx/ortRuntime';
import { paramSpecs, type NetworkSpec } from '../../core/arch/spec';
import { numel, type StateDict } from '../../core/arch/stateDict';
import { Rng } from '../../core/rng';
import { ADAM_DEFAULTS, adamBiasCorrection } from '../model/adamConfig';
import { checkIdentityLoss, networkSpecs, sidePool, type NetName, type PoolName, type Side } from '../model/cycleGan';
import { type AdamMoments } from '../model/adamConfig';
import { ImagePool } from '../model/imagePool';
import type { ImageBatch, ModelState, PartialModelState, Shape4, TrainingModelOptions } from '../model/modelState';
import { dropoutMultiplier } from './dropoutMask';
import {
  BC2_SQRT,
  moment,
  STEP_SIZE,
  updated,
  type ImageShapes,
  type StepGraph,
  type StepGraphOptions,
} from './stepGraphs';

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
  session: OrtSession;
}

/** Which optimiser a network's parameters belong to. */
const optimiserOf = (net: NetName): 'G' | 'D' => (net.startsWith('G') ? 'G' : 'D');

export abstract class OrtModelBase {
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
  private readonly pools = {} as Record<PoolName, ImagePool>;
  private readonly streams = {} as Record<PoolName, Rng>;
  protected dropoutCounter = 1;
  private lr: number;
  private readonly sessions = new Map<string, Map<string, Compiled>>();
  private evicted = false;
  private readonly lastUsed: Record<string, Compiled> = {};

  /** Wall time of each step kind's last run (ms). */
  readonly lastRunMs: Record<string, number> = {};

  protected constructor(
    protected readonly opts: TrainingModelOptions,
    /** The networks whose weights this model holds. */
    private readonly nets: readonly NetName[],
    /** Those whose Adam moments it holds (the ones it updates). */
    private readonly updated: readonly NetName[],
    /** The sides whose fakes' pools it holds. */
    private readonly poolSides: readonly Side[],
    /** onnxruntime intra-op threads. */
    readonly threads: number,
    private readonly log: (msg: string) => void,
    /** Profile every session: onnxruntime writes `<profilePrefix><kind>_<date>.json` (bench/ortProfile.ts). */
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
    for (const net of nets)
      for (const p of paramSpecs(this.specs[net])) {
        this.shapes.set(`${net}.${p.key}`, p.shape);
        if (p.trainable) this.trainable.add(`${net}.${p.key}`);
      }
  }

  get learningRate(): number {
    return this.lr;
  }

  async setLearningRate(lr: number): Promise<void> {
    this.lr = lr;
  }

  /** Loads the parts of `state` this model holds. */
  async importState(state: ModelState): Promise<void> {
    for (const net of this.nets) {
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
    for (const which of ['G', 'D'] as const) {
      const nets = this.updated.filter((n) => optimiserOf(n) === which);
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
    for (const p of this.poolSides.map(sidePool)) {
      this.pools[p] = ImagePool.fromState(this.opts.pool_size, state.pools[p].images);
      this.streams[p] = Rng.fromState(state.poolRng[p]);
    }
    this.dropoutCounter = state.dropoutCounter;
    this.lr = state.lr;
  }

  /** The parts of the model state this model holds. */
  protected exportPartial(): PartialModelState {
    const nets: PartialModelState['nets'] = {};
    for (const net of this.nets) nets[net] = new Map() as StateDict;
    for (const [key, data] of this.params) {
      const dot = key.indexOf('.');
      nets[key.slice(0, dot) as NetName]!.set(key.slice(dot + 1), { shape: [...this.shapes.get(key)!], data });
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
    const out: PartialModelState = {
      nets,
      adam: { G: moments(this.opt.G), D: moments(this.opt.D) },
      pools: {},
      poolRng: {},
      dropoutCounter: this.dropoutCounter,
      lr: this.lr,
    };
    for (const p of this.poolSides.map(sidePool)) {
      out.pools[p] = this.pools[p].contents();
      out.poolRng[p] = this.streams[p].state();
    }
    return out;
  }

  /** A side's fakes through its pool, with the pool's own random stream. */
  protected pooled(side: Side, fake: ImageBatch): ImageBatch {
    const p = sidePool(side);
    return this.pools[p].queryWithShape(fake.data, fake.shape, this.streams[p]);
  }

  /** How many step sessions are loaded, per kind (at most MAX_SESSIONS each). */
  loadedSessions(): Record<string, number> {
    return Object.fromEntries([...this.sessions].map(([kind, cache]) => [kind, cache.size]));
  }

  async dispose(): Promise<void> {
    for (const cache of this.sessions.values()) {
      for (const c of cache.values()) await c.session.release();
      cache.clear();
    }
  }

  /** The step graph of `kind` for these image shapes, built and loaded on first use. */
  protected async compiled(
    kind: string,
    shapes: ImageShapes,
    build: (o: StepGraphOptions, shapes: ImageShapes) => StepGraph,
  ): Promise<Compiled> {
    const key = JSON.stringify(shapes);
    let cache = this.sessions.get(kind);
    if (!cache) this.sessions.set(kind, (cache = new Map()));
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
    const session = await createSession(graph.model, {
      ...trainingSessionOptions(this.threads),
      ...(this.profilePrefix && { enableProfiling: true, profileFilePrefix: `${this.profilePrefix}${kind}` }),
    });
    c = { graph, session };
    cache.set(key, c);
    return c;
  }

  /** The session of the last `kind` step (for reading its profile). */
  lastSession(kind: string): OrtSession {
    const c = this.lastUsed[kind];
    if (!c) throw new Error(`no ${kind} step has run yet`);
    return c.session;
  }

  /** Runs `c` with its parameters, Adam state and dropout multipliers fed, and `feeds`. */
  protected async run(kind: string, c: Compiled, feeds: Record<string, OrtTensor>): Promise<OrtValues> {
    const t0 = performance.now();
    const out = await c.session.run({
      ...feeds,
      ...this.paramFeeds(c.graph),
      ...this.adamFeeds(c.graph),
      ...this.dropoutFeeds(c.graph),
    });
    this.lastRunMs[kind] = performance.now() - t0;
    this.lastUsed[kind] = c;
    this.applyUpdate(c.graph, out);
    return out;
  }

  /** The current values of parameters `keys`. */
  protected paramValues(keys: Iterable<string>): Map<string, Float32Array> {
    return new Map([...keys].map((k) => [k, this.params.get(k)!]));
  }

  /** Parameters computed elsewhere (the other worker's generator after its update). */
  protected setParams(values: ReadonlyMap<string, Float32Array>): void {
    for (const [key, v] of values) {
      if (!this.params.has(key)) throw new Error(`no parameter ${key} here`);
      this.params.set(key, v);
    }
  }

  protected shapeOf(key: string): number[] {
    return this.shapes.get(key)!;
  }

  private paramFeeds(graph: StepGraph): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const key of [...graph.keys, ...graph.frozenKeys, ...graph.bufferKeys])
      feeds[key] = float32Tensor(this.params.get(key)!, this.shapes.get(key)!);
    return feeds;
  }

  /** This iteration's dropout multipliers, drawn as the tfjs engine draws them (same counter, same seeds). */
  private dropoutFeeds(graph: StepGraph): Record<string, OrtTensor> {
    return Object.fromEntries(
      graph.dropoutMasks.map((m) => [
        m.name,
        float32Tensor(dropoutMultiplier(m.shape, m.rate, this.dropoutCounter + m.seedOffset), m.shape),
      ]),
    );
  }

  /** Moments and bias corrections of a graph that updates (one optimiser's) parameters. */
  private adamFeeds(graph: StepGraph): Record<string, OrtTensor> {
    if (!graph.updates) return {};
    const o = this.opt[graph.updates];
    const { stepSize, bc2Sqrt } = adamBiasCorrection({ ...this.graphOptions, lr: this.lr }, o.step + 1);
    const feeds: Record<string, OrtTensor> = {
      [STEP_SIZE]: float32Tensor(Float32Array.of(stepSize), []),
      [BC2_SQRT]: float32Tensor(Float32Array.of(bc2Sqrt), []),
    };
    for (const key of graph.keys) {
      const shape = this.shapes.get(key)!;
      feeds[moment('m', key)] = float32Tensor(o.m.get(key)!, shape);
      feeds[moment('v', key)] = float32Tensor(o.v.get(key)!, shape);
    }
    return feeds;
  }

  private applyUpdate(graph: StepGraph, out: OrtValues): void {
    if (graph.updates) {
      const o = this.opt[graph.updates];
      o.step++;
      for (const key of graph.keys) {
        this.params.set(key, out[updated('param', key)].data as Float32Array);
        o.m.set(key, out[updated('m', key)].data as Float32Array);
        o.v.set(key, out[updated('v', key)].data as Float32Array);
      }
    }
    for (const key of graph.bufferKeys) this.params.set(key, out[updated('param', key)].data as Float32Array);
  }
}

/** An NHWC image output of a step run. */
export function imageOf(out: OrtValues, name: string): ImageBatch {
  const t = out[name];
  return { data: t.data as Float32Array, shape: t.dims as Shape4 };
}

/** [N, H, W] of an NHWC batch shape: a step graph's image input shape. */
export const nhw = (s: Shape4): [number, number, number] => [s[0], s[1], s[2]];
