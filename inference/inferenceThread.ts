/**
 * Main-thread handle on a model's inference worker: load sessions, run batches, close.
 */
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../core/threads/tsWorker';
import type { FromWorker, LoadRequest, Loaded, ToWorker, WorkerInit } from './inferenceProtocol';
import type { Feed, Tensor, TilingGraph } from './tiling/tiledTranslate';

const WORKER_FILE = path.join(__dirname, 'inferenceWorker.ts');

interface Pending {
  resolve(r: { data: Float32Array; dims: number[]; ms: number }): void;
  reject(e: Error): void;
}

interface PendingGraph {
  resolve(r: Record<string, Tensor>): void;
  reject(e: Error): void;
}

export class InferenceThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private readonly pendingGraphs = new Map<number, PendingGraph>();
  /** Milliseconds the worker spent in graph runs (tiled execution). */
  graphMs = 0;
  private nextId = 1;
  private onLoaded: ((m: Loaded) => void) | null = null;
  private onLoadFailed: ((e: Error) => void) | null = null;
  private onClosed: (() => void) | null = null;
  private dead: Error | null = null;

  constructor(init: WorkerInit) {
    this.worker = startTsWorker(WORKER_FILE, { workerData: init });
    this.worker.on('message', (m: FromWorker) => this.receive(m));
    this.worker.on('error', (e) => this.die(new Error(`inference worker crashed: ${e.message}`)));
    this.worker.on('exit', (code) => {
      this.die(new Error(`inference worker exited (code ${code})`));
      this.onClosed?.();
    });
  }

  /** False once the worker has crashed or exited. */
  get alive(): boolean {
    return this.dead === null;
  }

  load(req: Omit<LoadRequest, 'type'>): Promise<Loaded> {
    return new Promise((resolve, reject) => {
      this.onLoaded = resolve;
      this.onLoadFailed = reject;
      this.send({ type: 'load', ...req });
    });
  }

  run(
    direction: string,
    data: Float32Array,
    dims: number[],
  ): Promise<{ data: Float32Array; dims: number[]; ms: number }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The batch buffer is ours alone; transfer it instead of copying.
      this.worker.postMessage({ type: 'run', id, direction, data, dims } satisfies ToWorker, [
        data.buffer as ArrayBuffer,
      ]);
    });
  }

  /** One run of a direction's `graph` (tiled execution): a RunGraph for inference/tiling. */
  runGraph(
    direction: string,
    graph: TilingGraph,
    feeds: Record<string, Feed>,
    fetch: string[],
  ): Promise<Record<string, Tensor>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pendingGraphs.set(id, { resolve, reject });
      this.send({ type: 'graph', id, direction, graph, feeds, fetch });
    });
  }

  /** Releases the sessions and ends the thread. */
  async close(): Promise<void> {
    if (this.dead) return;
    const closed = new Promise<void>((r) => (this.onClosed = r));
    this.send({ type: 'close' });
    const timeout = setTimeout(() => void this.worker.terminate(), 5000);
    await closed;
    clearTimeout(timeout);
  }

  /** Ends the thread at once (load failures, tests). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'loaded':
        this.onLoaded?.(m);
        break;
      case 'load-failed':
        this.onLoadFailed?.(new Error(m.error));
        break;
      case 'graph-result': {
        const p = this.pendingGraphs.get(m.id);
        this.pendingGraphs.delete(m.id);
        this.graphMs += m.ms;
        p?.resolve(m.outputs);
        break;
      }
      case 'result':
      case 'run-failed': {
        const g = this.pendingGraphs.get(m.id);
        if (g && m.type === 'run-failed') {
          this.pendingGraphs.delete(m.id);
          g.reject(new Error(`inference failed: ${m.error}`));
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.type === 'result') p.resolve({ data: m.data, dims: m.dims, ms: m.ms });
        else p.reject(new Error(`inference failed: ${m.error}`));
        break;
      }
      case 'closed':
        void this.worker.terminate();
        break;
    }
  }

  private die(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    this.onLoadFailed?.(e);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const p of this.pendingGraphs.values()) p.reject(e);
    this.pendingGraphs.clear();
  }
}
