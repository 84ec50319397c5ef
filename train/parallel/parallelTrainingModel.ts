/**
 * Data-parallel CycleGAN training on two worker threads, each computing with half the cores: on
 * tfjs with its own backend (on wasm XNNPACK, 1 thread on 2 cores, the threaded build above that;
 * train/tfjs/tfjsSideWorker.ts), or on onnxruntime with its own sessions (train/onnx/ortSideWorker.ts).
 * loss_G = L_A + L_B splits exactly by real domain (train/model/cycleGan.ts): worker A computes ∂L_A/∂θ_G and owns D_A
 * with the pool of fake_B, worker B computes ∂L_B/∂θ_G and owns D_B with the pool of fake_A. Per
 * iteration:
 *   1. both: this side's G gradient → shared buffer (onnxruntime: then this side's D step)
 *                                                              (main waits for both)
 *   2. both: G step with the sum of the two buffers (tfjs: then this side's D step)
 * Both add the same two float32 gradients, so the G step is the same in both: the tfjs workers
 * each take it on both generators, the onnxruntime workers each on their own side's generator and
 * pass the result on (gradientExchange.ts). Either way both G copies stay bit-identical (checked at
 * every export); the D step and its Adam are per network anyway. The math is the single-thread
 * model's up to float summation order.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { startTsWorker } from '../../core/threads/tsWorker';
import { WorkerRpc } from '../../core/threads/workerRpc';
import { LOSS_NAMES, VISUAL_NAMES, type Losses, type VisualName } from '../model/trainingModel';
import { SIDES, type Side } from '../model/cycleGan';
import {
  completeState,
  type ImageBatch,
  type ModelState,
  type PartialModelState,
  type Shape4,
  type TrainingModelOptions,
} from '../model/modelState';
import type { TrainingModel } from '../model/trainingModel';
import {
  allocateExchange,
  generatorGradientLayout,
  gradientSum,
  type ExchangeBuffers,
  type GradientLayout,
} from './gradientExchange';
import type { FromSideWorker, RequestName, SideEngine, SideRequests, SideWorkerData } from './protocol';

const WORKER_FILES: Record<SideEngine['engine'], string> = {
  tfjs: path.join(__dirname, '..', 'tfjs', 'tfjsSideWorker.ts'),
  onnxruntime: path.join(__dirname, '..', 'onnx', 'ortSideWorker.ts'),
};

/**
 * Threads per side worker (XNNPACK's on tfjs, onnxruntime's intra-op ones): the cores split evenly
 * between the two workers (tfjs caps a wasm backend at half the cores anyway). 1 on a 2-core
 * machine, where the two workers already fill it.
 */
export function threadsPerWorker(cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/** tfjs sides on `backend`, each with XNNPACK on `wasmThreads` threads on wasm (default: half the cores). */
export function tfjsSides(backend: string, wasmThreads = threadsPerWorker()): SideEngine {
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new Error(`parallel training runs on the wasm or cpu backend, not '${backend}'`);
  }
  return { engine: 'tfjs', backend, wasmThreads: backend === 'wasm' ? wasmThreads : 1 };
}

/** Main-thread handle on one side worker: numbered requests, one answer each. */
class SideThread {
  private readonly rpc: WorkerRpc<FromSideWorker>;

  constructor(
    readonly side: Side,
    data: SideWorkerData,
    log: (msg: string) => void,
  ) {
    const worker = startTsWorker(WORKER_FILES[data.engine.engine], { workerData: data });
    this.rpc = new WorkerRpc<FromSideWorker>(worker, {
      what: `training worker ${side}`,
      reply: (m) =>
        'log' in m
          ? null
          : m.ok
            ? { id: m.id, value: m.value }
            : { id: m.id, error: new Error(`training worker ${side}: ${m.error}`) },
      onOther: (m) => {
        if ('log' in m) log(m.log);
      },
      // Referenced only while a request is out: an idle, forgotten model never keeps the process alive.
      refWhileBusy: true,
    });
  }

  call<K extends RequestName>(type: K, args: SideRequests[K]['args']): Promise<SideRequests[K]['result']> {
    return this.rpc.request((id) => this.rpc.worker.postMessage({ id, type, args }));
  }

  /** Frees the worker's tensors and ends the thread. */
  async close(): Promise<void> {
    if (this.rpc.alive) await this.call('close', {}).catch(() => undefined);
    this.rpc.end(new Error(`training worker ${this.side} closed`));
    await this.rpc.worker.terminate();
  }
}

export class ParallelTrainingModel implements TrainingModel {
  readonly workers = 2;
  private iteration = 0;
  private stepped = false;

  private constructor(
    private readonly threads: Record<Side, SideThread>,
    private readonly layout: GradientLayout,
    private readonly buffers: ExchangeBuffers,
    private lr: number,
  ) {}

  /**
   * Starts both workers computing on `engine` (tfjsSides, or onnxruntime) and loads `state` into
   * them; `log` hears the slow paths they take (once per kind of path and worker).
   */
  static async open(
    opts: TrainingModelOptions,
    state: ModelState,
    engine: SideEngine,
    log: (msg: string) => void = () => {},
  ): Promise<ParallelTrainingModel> {
    if (opts.norm === 'batch') {
      throw new Error(
        "parallel training needs --norm instance or none: each worker would update batch norm's running statistics on different images",
      );
    }
    const layout = generatorGradientLayout(opts);
    // onnxruntime workers update only their own generator and pass it on.
    const buffers = allocateExchange(layout, engine.engine === 'onnxruntime');
    const thread = (side: Side) => new SideThread(side, { side, engine, opts, layout, buffers }, log);
    const m = new ParallelTrainingModel({ A: thread('A'), B: thread('B') }, layout, buffers, state.lr);
    try {
      await m.importState(state);
    } catch (e) {
      await m.dispose();
      throw e;
    }
    return m;
  }

  private async both<K extends RequestName>(
    type: K,
    args: SideRequests[K]['args'],
  ): Promise<[SideRequests[K]['result'], SideRequests[K]['result']]> {
    const [a, b] = await Promise.allSettled([this.threads.A.call(type, args), this.threads.B.call(type, args)]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    return [a.value, b.value];
  }

  async optimize(a: Float32Array, shapeA: Shape4, b: Float32Array, shapeB: Shape4): Promise<Losses> {
    this.iteration = (this.iteration % 0x7fffffff) + 1;
    const iteration = this.iteration;
    await this.both('generatorGradients', { iteration, a, shapeA, b, shapeB });
    const [la, lb] = await this.both('completeStep', { iteration });
    this.stepped = true;
    const all = { ...la, ...lb };
    return Object.fromEntries(LOSS_NAMES.map((k) => [k, all[k]])) as Losses;
  }

  async setLearningRate(lr: number): Promise<void> {
    await this.both('setLearningRate', { lr });
    this.lr = lr;
  }

  get learningRate(): number {
    return this.lr;
  }

  async visuals(): Promise<Record<VisualName, ImageBatch> | undefined> {
    if (!this.stepped) return undefined;
    const [a, b] = await this.both('visuals', {});
    const v = { ...a, ...b };
    return VISUAL_NAMES.every((n) => v[n]) ? (v as Record<VisualName, ImageBatch>) : undefined;
  }

  async exportState(): Promise<ModelState> {
    const [a, b] = await this.both('exportState', {});
    return completeState(mergeSides(a, b));
  }

  async importState(state: ModelState): Promise<void> {
    await this.both('load', { state });
    this.lr = state.lr;
    this.stepped = false;
  }

  /**
   * Gradient of the whole loss_G in the last iteration, as the workers summed it (for tests), in
   * the workers' layout: tfjs's kernel layout on tfjs, state_dict's on onnxruntime.
   */
  generatorGradientSum(): Map<string, Float32Array> {
    if (!this.stepped) throw new Error('no iteration yet');
    return gradientSum(this.layout, this.buffers, this.iteration);
  }

  async dispose(): Promise<void> {
    await Promise.all(SIDES.map((s) => this.threads[s].close()));
  }
}

function sameBits(x: Float32Array, y: Float32Array): boolean {
  if (x.length !== y.length) return false;
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Worker A's and B's parts as one state; their generator copies and step counts must agree exactly. */
function mergeSides(a: PartialModelState, b: PartialModelState): PartialModelState {
  const differ = (what: string) =>
    new Error(`parallel training: the workers' ${what} differ (their generator copies drifted apart)`);
  for (const n of ['G_A', 'G_B'] as const) {
    for (const [key, t] of a.nets[n]!) if (!sameBits(t.data, b.nets[n]!.get(key)!.data)) throw differ(`${n}.${key}`);
  }
  // Generator moments: held by both workers (tfjs: equal), or each generator's by its own side's.
  const moments = { m: new Map(a.adam.G.m), v: new Map(a.adam.G.v) };
  for (const part of ['m', 'v'] as const)
    for (const [key, m] of b.adam.G[part]) {
      const theirs = moments[part].get(key);
      if (theirs && !sameBits(m, theirs)) throw differ(`Adam moments of ${key}`);
      moments[part].set(key, m);
    }
  if (a.adam.G.step !== b.adam.G.step || a.adam.D.step !== b.adam.D.step) throw differ('optimiser steps');
  if (a.dropoutCounter !== b.dropoutCounter) throw differ('dropout counters');
  return {
    nets: { ...b.nets, ...a.nets },
    adam: {
      G: { step: a.adam.G.step, ...moments },
      D: {
        step: a.adam.D.step,
        m: new Map([...a.adam.D.m, ...b.adam.D.m]),
        v: new Map([...a.adam.D.v, ...b.adam.D.v]),
      },
    },
    pools: { ...a.pools, ...b.pools },
    poolRng: { ...a.poolRng, ...b.poolRng },
    dropoutCounter: a.dropoutCounter,
    lr: a.lr,
  };
}
