/**
 * The plumbing of a training model on onnxruntime, whatever part of the
 * iteration it computes: the weights, Adam moments, image pools and dropout counter it holds, the
 * step sessions it builds from ONNX graphs (stepGraphs.ts) and keeps per image size, and the
 * feeds and updates of a step run. OrtTrainingModel (both sides, this thread) and OrtSideModel
 * (one side, in a worker) add only the order of the runs.
 *
 * On the WebGPU provider (`device` 'webgpu') the step graphs' new weights, moments and batch-norm
 * buffers stay in device buffers and are fed back to the next run as they are; only images, losses
 * and a few scalars cross between host and device each iteration (`transferBytes` counts them).
 * State comes back to the host when a checkpoint or the other engine asks for it (deviceReadback.ts).
 *
 * Same math and same state as the tfjs models (train/model/trainingModel.ts): weights stay in state_dict
 * layout, Adam moments convert to the checkpoint's tfjs layout on export, so a run saved by one
 * engine resumes in the other.
 */
import {
  createSession,
  float32Tensor,
  isDeviceTensor,
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
import { DeviceReadback } from './deviceReadback';
import type { TrainingDevice } from '../../core/config/options';
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

/** A value of the model state: in host memory, or a device tensor a step run left on the GPU provider. */
type Held = Float32Array | OrtTensor;

interface Optimiser {
  step: number;
  m: Map<string, Held>;
  v: Map<string, Held>;
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
  private readonly params = new Map<string, Held>();
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
  /**
   * Bytes fed from host memory into, and read back out of, step runs on a GPU provider since the
   * model opened (zero on the CPU): what crosses the bus as seen from here. Copies onnxruntime makes
   * inside a run, around nodes its provider lacks, are not among them.
   */
  readonly transferBytes = { toDevice: 0, fromDevice: 0 };
  private readonly readback = new DeviceReadback();

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
    /** Where the step graphs run. */
    readonly device: TrainingDevice = 'cpu',
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
    this.releaseDeviceState();
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
  protected async exportPartial(): Promise<PartialModelState> {
    const host = await this.hostValues();
    const nets: PartialModelState['nets'] = {};
    for (const net of this.nets) nets[net] = new Map() as StateDict;
    for (const key of this.params.keys()) {
      const data = host(`param:${key}`);
      const dot = key.indexOf('.');
      nets[key.slice(0, dot) as NetName]!.set(key.slice(dot + 1), { shape: [...this.shapes.get(key)!], data });
    }
    const moments = (o: Optimiser, which: 'G' | 'D'): AdamMoments => {
      const tfjs = (m: Map<string, Held>, part: 'm' | 'v') =>
        new Map(
          [...m.keys()].map((key) => {
            const v = host(`${which}.${part}:${key}`);
            const shape = this.shapes.get(key)!;
            return [key, shape.length === 4 ? permute4(v, shape, true) : v];
          }),
        );
      return { step: o.step, m: tfjs(o.m, 'm'), v: tfjs(o.v, 'v') };
    };
    const out: PartialModelState = {
      nets,
      adam: { G: moments(this.opt.G, 'G'), D: moments(this.opt.D, 'D') },
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

  /** Every state value in host memory, by `param:KEY` and `G.m:KEY` (…): device ones read back in one run. */
  private async hostValues(): Promise<(name: string) => Float32Array> {
    const all = new Map<string, Held>();
    for (const [key, v] of this.params) all.set(`param:${key}`, v);
    for (const which of ['G', 'D'] as const)
      for (const part of ['m', 'v'] as const)
        for (const [key, v] of this.opt[which][part]) all.set(`${which}.${part}:${key}`, v);
    const onDevice = new Map([...all].filter((e): e is [string, OrtTensor] => !(e[1] instanceof Float32Array)));
    const read = await this.readDevice(onDevice);
    return (name) => read.get(name) ?? (all.get(name) as Float32Array);
  }

  /** Host copies of device tensors, counted as transfers. */
  protected async readDevice(tensors: ReadonlyMap<string, OrtTensor>): Promise<Map<string, Float32Array>> {
    const read = await this.readback.read(tensors);
    for (const v of read.values()) this.transferBytes.fromDevice += v.byteLength;
    return read;
  }

  /** Frees the device buffers of the state (before it is replaced wholesale, or at dispose). */
  private releaseDeviceState(): void {
    const values = [
      ...this.params.values(),
      ...(['G', 'D'] as const).flatMap((w) => [...this.opt[w].m.values(), ...this.opt[w].v.values()]),
    ];
    for (const v of values) if (!(v instanceof Float32Array)) v.dispose();
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
    this.releaseDeviceState();
    await this.readback.dispose();
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
    /** Outputs besides the state that may stay on the device (read back only when asked for). */
    keepOnDevice: readonly string[] = [],
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
    const stateOutputs = [
      ...(graph.updates ? graph.keys.flatMap((k) => [updated('param', k), updated('m', k), updated('v', k)]) : []),
      ...graph.bufferKeys.map((k) => updated('param', k)),
    ];
    const session = await createSession(graph.model, {
      ...trainingSessionOptions(this.threads, this.device, [...stateOutputs, ...keepOnDevice]),
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
    const all = { ...feeds, ...this.paramFeeds(c.graph), ...this.adamFeeds(c.graph), ...this.dropoutFeeds(c.graph) };
    const out = await c.session.run(all);
    this.lastRunMs[kind] = performance.now() - t0;
    if (this.device !== 'cpu') {
      const hostBytes = (ts: Iterable<OrtTensor>) =>
        [...ts].reduce((n, t) => n + (isDeviceTensor(t) ? 0 : (t.data as Float32Array).byteLength), 0);
      this.transferBytes.toDevice += hostBytes(Object.values(all));
      this.transferBytes.fromDevice += hostBytes(Object.values(out) as OrtTensor[]);
    }
    this.lastUsed[kind] = c;
    this.applyUpdate(c.graph, out);
    return out;
  }

  /** The current values of parameters `keys` (a model on the CPU: two workers train on the CPU only). */
  protected paramValues(keys: Iterable<string>): Map<string, Float32Array> {
    return new Map(
      [...keys].map((k) => {
        const v = this.params.get(k)!;
        if (!(v instanceof Float32Array)) throw new Error(`parameter ${k} is on the device`);
        return [k, v];
      }),
    );
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

  /** A state value as a feed: a host array wrapped, a device tensor as it is. */
  private feed(v: Held, shape: number[]): OrtTensor {
    return v instanceof Float32Array ? float32Tensor(v, shape) : v;
  }

  private paramFeeds(graph: StepGraph): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const key of [...graph.keys, ...graph.frozenKeys, ...graph.bufferKeys])
      feeds[key] = this.feed(this.params.get(key)!, this.shapes.get(key)!);
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
      feeds[moment('m', key)] = this.feed(o.m.get(key)!, shape);
      feeds[moment('v', key)] = this.feed(o.v.get(key)!, shape);
    }
    return feeds;
  }

  /** The run's new state replaces the old, whose device buffers (inputs of the finished run) are freed. */
  private applyUpdate(graph: StepGraph, out: OrtValues): void {
    const put = (m: Map<string, Held>, key: string, t: OrtTensor) => {
      const old = m.get(key);
      if (old !== undefined && !(old instanceof Float32Array)) old.dispose();
      m.set(key, isDeviceTensor(t) ? t : (t.data as Float32Array));
    };
    if (graph.updates) {
      const o = this.opt[graph.updates];
      o.step++;
      for (const key of graph.keys) {
        put(this.params, key, out[updated('param', key)]);
        put(o.m, key, out[updated('m', key)]);
        put(o.v, key, out[updated('v', key)]);
      }
    }
    for (const key of graph.bufferKeys) put(this.params, key, out[updated('param', key)]);
  }
}

/** An NHWC image output of a step run. */
export function imageOf(out: OrtValues, name: string): ImageBatch {
  const t = out[name];
  return { data: t.data as Float32Array, shape: t.dims as Shape4 };
}

/** [N, H, W] of an NHWC batch shape: a step graph's image input shape. */
export const nhw = (s: Shape4): [number, number, number] => [s[0], s[1], s[2]];
