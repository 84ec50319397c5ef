/**
 * Main-thread handle on a model's inference worker: load sessions, run batches, close.
 */
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../core/threads/tsWorker';
import { WorkerRpc } from '../core/threads/workerRpc';
import type { FromWorker, LoadRequest, Loaded, ToWorker, WorkerInit } from './inferenceProtocol';
import type { Feed, Tensor, TilingGraph } from './tiling/tiledTranslate';

const WORKER_FILE = path.join(__dirname, 'inferenceWorker.ts');

type RunResult = { data: Float32Array; dims: number[]; ms: number };
type GraphResult = Extract<FromWorker, { type: 'graph-result' }>;

function closedError(): Error {
  return new Error('inference failed: this model version was closed (replaced, unloaded or shutting down)');
}

export class InferenceThread {
  private readonly worker: Worker;
  private readonly rpc: WorkerRpc<FromWorker>;
  /** Milliseconds the worker spent in graph runs (tiled execution). */
  graphMs = 0;
  private onLoaded: ((m: Loaded) => void) | null = null;
  private onLoadFailed: ((e: Error) => void) | null = null;
  private onClosed: (() => void) | null = null;
  /**
   * Set by close(): later runs (a replaced version's tiles still queued here) fail at once and are
   * never sent, so once the worker says 'closed' no onnxruntime call is executing in it and ending
   * it is safe (ending it during one aborts the whole process).
   */
  private closing = false;

  constructor(init: WorkerInit) {
    this.worker = startTsWorker(WORKER_FILE, { workerData: init });
    this.rpc = new WorkerRpc<FromWorker>(this.worker, {
      what: 'inference worker',
      reply: (m) => {
        if (m.type === 'result') return { id: m.id, value: { data: m.data, dims: m.dims, ms: m.ms } };
        if (m.type === 'graph-result') return { id: m.id, value: m };
        if (m.type === 'run-failed') return { id: m.id, error: new Error(`inference failed: ${m.error}`) };
        return null;
      },
      onOther: (m) => this.receive(m),
      onDeath: (e) => this.onLoadFailed?.(e),
      onExit: () => this.onClosed?.(),
    });
  }

  /** False once the worker has crashed or exited. */
  get alive(): boolean {
    return this.rpc.alive;
  }

  load(req: Omit<LoadRequest, 'type'>): Promise<Loaded> {
    return new Promise((resolve, reject) => {
      this.onLoaded = resolve;
      this.onLoadFailed = reject;
      this.send({ type: 'load', ...req });
    });
  }

  run(direction: string, data: Float32Array, dims: number[]): Promise<RunResult> {
    if (this.closing) return Promise.reject(closedError());
    // The batch buffer is ours alone; transfer it instead of copying.
    return this.rpc.request((id) =>
      this.worker.postMessage({ type: 'run', id, direction, data, dims } satisfies ToWorker, [
        data.buffer as ArrayBuffer,
      ]),
    );
  }

  /** One run of a direction's `graph` (tiled execution): a RunGraph for inference/tiling. */
  async runGraph(
    direction: string,
    graph: TilingGraph,
    feeds: Record<string, Feed>,
    fetch: string[],
  ): Promise<Record<string, Tensor>> {
    if (this.closing) throw closedError();
    const r = await this.rpc.request<GraphResult>((id) =>
      this.send({ type: 'graph', id, direction, graph, feeds, fetch }),
    );
    this.graphMs += r.ms;
    return r.outputs;
  }

  /**
   * Releases the sessions and ends the thread, once the runs it is executing have finished: no
   * time limit, since ending a worker during an onnxruntime call aborts the whole process
   * (`terminate called after throwing an instance of 'Napi::Error'`), and a busy server's queued
   * tiles can take longer than any fixed limit. Runs sent after this fail with an error.
   */
  async close(): Promise<void> {
    if (!this.rpc.alive || this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((r) => (this.onClosed = r));
    this.send({ type: 'close' });
    await closed;
  }

  /** Ends the thread at once (load failures, tests). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  /** Messages that answer no numbered request. */
  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'loaded':
        this.onLoaded?.(m);
        break;
      case 'load-failed':
        this.onLoadFailed?.(new Error(m.error));
        break;
      case 'closed':
        void this.worker.terminate();
        break;
    }
  }
}
