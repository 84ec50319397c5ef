/**
 * Dynamic batching for one model. Requests with the same direction and input shape that arrive
 * close together run as one onnxruntime call of up to `maxBatch` samples; one batch runs at a
 * time per model (onnxruntime already spreads a run over all cores), and requests arriving
 * meanwhile gather into the next batch. A request is refused at once (so the HTTP layer can
 * answer 503 instead of letting latency grow) when its expected wait — the images ahead of it
 * times the recent time per image — would pass its deadline, or when the queue reaches its hard
 * cap (each waiting request holds its input tensor). Images are counted by their pixels, so a
 * queue of thumbnails is not priced like a queue of photos.
 */

import { RunPrices } from './costModel';

/** One inference over a whole batch: NCHW in, NCHW out. */
export type RunBatch = (
  direction: string,
  data: Float32Array,
  dims: number[],
) => Promise<{ data: Float32Array; dims: number[]; ms: number }>;

export interface BatcherOptions {
  maxBatch: number;
  /** How long the oldest waiting request may wait for companions before its batch is run. */
  maxDelayMs: number;
  /** Hard cap on requests waiting (the running batch not included), for memory. */
  maxQueue: number;
  run: RunBatch;
  /** Observes every batch that completed (for metrics). */
  onBatch?: (direction: string, size: number, ms: number) => void;
  /** Time per pixel, updated from every batch run (default: the batcher's own). */
  prices?: RunPrices;
}

export interface BatchResult {
  /** This request's output, NCHW with N = 1. */
  data: Float32Array;
  dims: number[];
  inferenceMs: number;
  queueMs: number;
  batchSize: number;
}

export class QueueFullError extends Error {}
const EMPTY = new Float32Array(0);
export class BatchTimeoutError extends Error {}
export class CancelledError extends Error {}

interface Item {
  direction: string;
  group: string;
  data: Float32Array;
  dims: number[];
  enqueuedAt: number;
  deadline?: number;
  state: 'waiting' | 'running' | 'settled';
  timer?: NodeJS.Timeout;
  /** Removes the abort listener, so a long-lived signal does not keep the item (and its tensor) alive. */
  unlisten?: () => void;
  resolve(r: BatchResult): void;
  reject(e: Error): void;
}

export interface SubmitOptions {
  /** Absolute time (ms since epoch, Date.now()) after which the request is failed with BatchTimeoutError. */
  deadline?: number;
  /** Aborting removes a waiting request (the client went away); a running one is left to finish. */
  signal?: AbortSignal;
}

export class Batcher {
  private waiting: Item[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  /** Smoothed batch duration, for Retry-After estimates. */
  private avgBatchMs = 0;
  /** The requests of the running batch. */
  private runningItems: Item[] = [];
  private readonly prices: RunPrices;

  constructor(private readonly o: BatcherOptions) {
    if (!(o.maxBatch >= 1) || !(o.maxQueue >= 1) || !(o.maxDelayMs >= 0)) throw new Error('invalid batcher options');
    this.prices = o.prices ?? new RunPrices();
  }

  /** Requests waiting for a batch. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Requests in the batch being run. */
  get inFlight(): number {
    return this.running;
  }

  /** Seconds a client turned away now should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    const batchesAhead = Math.ceil(this.waiting.length / this.o.maxBatch) + 1;
    return Math.max(1, Math.ceil(Math.max(batchesAhead * this.avgBatchMs, this.expectedWaitMs()) / 1000));
  }

  /**
   * Milliseconds a request of `pixels` (H × W) in `direction` submitted now would wait for its
   * result: every image ahead of it (waiting and running) and itself, each at the measured time per
   * pixel of its size (costModel.ts). 0 until a batch has run.
   */
  expectedWaitMs(pixels = 0, direction?: string): number {
    let ms = pixels > 0 ? pixels * this.prices.msPerPixel(direction, 'plain', pixels) : 0;
    for (const list of [this.waiting, this.runningItems])
      for (const i of list) {
        const px = i.dims[2] * i.dims[3];
        ms += px * this.prices.msPerPixel(i.direction, 'plain', px);
      }
    return ms;
  }

  submit(direction: string, data: Float32Array, dims: number[], opts: SubmitOptions = {}): Promise<BatchResult> {
    if (dims.length !== 4 || dims[0] !== 1) return Promise.reject(new Error(`expected NCHW with N = 1, got [${dims}]`));
    if (this.waiting.length >= this.o.maxQueue)
      return Promise.reject(new QueueFullError(`queue full (${this.waiting.length} requests waiting)`));
    const wait = this.expectedWaitMs(dims[2] * dims[3], direction);
    if (opts.deadline !== undefined && Date.now() + wait > opts.deadline)
      return Promise.reject(
        new QueueFullError(
          `expected wait ${Math.round(wait)} ms (${this.waiting.length + this.running} image(s) ahead) is past the request's deadline`,
        ),
      );
    if (opts.signal?.aborted) return Promise.reject(new CancelledError('cancelled before queueing'));
    return new Promise<BatchResult>((resolve, reject) => {
      const item: Item = {
        direction,
        group: `${direction}:${dims.slice(1).join('x')}`,
        data,
        dims,
        enqueuedAt: Date.now(),
        deadline: opts.deadline,
        state: 'waiting',
        resolve,
        reject,
      };
      if (opts.deadline !== undefined) {
        const ms = Math.max(0, opts.deadline - Date.now());
        item.timer = setTimeout(() => {
          const where = item.state === 'waiting' ? 'waiting in the queue' : 'running';
          this.fail(item, new BatchTimeoutError(`timed out after ${Date.now() - item.enqueuedAt} ms ${where}`));
        }, ms);
      }
      const signal = opts.signal;
      if (signal) {
        const onAbort = () => {
          if (item.state === 'waiting') this.fail(item, new CancelledError('cancelled while waiting'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        item.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiting.push(item);
      this.schedule();
    });
  }

  /** Resolves once nothing is waiting or running (for graceful shutdown). */
  idle(): Promise<void> {
    if (this.waiting.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private fail(item: Item, e: Error): void {
    if (item.state === 'settled') return;
    if (item.state === 'waiting') {
      this.waiting.splice(this.waiting.indexOf(item), 1);
      this.checkIdle();
    }
    item.state = 'settled';
    clearTimeout(item.timer);
    item.unlisten?.();
    item.reject(e);
  }

  private schedule(): void {
    if (this.running > 0 || this.waiting.length === 0) return;
    const oldest = this.waiting[0];
    const group = this.waiting.filter((i) => i.group === oldest.group);
    const waited = Date.now() - oldest.enqueuedAt;
    if (group.length >= this.o.maxBatch || waited >= this.o.maxDelayMs) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.dispatch(group.slice(0, this.o.maxBatch));
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, this.o.maxDelayMs - waited);
    }
  }

  private async dispatch(group: Item[]): Promise<void> {
    const taken = new Set(group);
    this.waiting = this.waiting.filter((i) => !taken.has(i));
    // A request already past its deadline is not run (its timer may not have fired yet).
    const now = Date.now();
    const items = group.filter((it) => {
      if (it.deadline === undefined || it.deadline > now) return true;
      it.state = 'running'; // already out of the waiting list
      this.fail(it, new BatchTimeoutError(`timed out after ${now - it.enqueuedAt} ms waiting in the queue`));
      return false;
    });
    if (items.length === 0) {
      this.checkIdle();
      this.schedule();
      return;
    }
    for (const i of items) i.state = 'running';
    this.running = items.length;
    this.runningItems = items;
    const [, c, h, w] = items[0].dims;
    const per = c * h * w;
    const batch = new Float32Array(per * items.length);
    items.forEach((it, k) => {
      batch.set(it.data, k * per);
      it.data = EMPTY; // copied into the batch: the request's own tensor can be collected now
    });
    const started = Date.now();
    try {
      const out = await this.o.run(items[0].direction, batch, [items.length, c, h, w]);
      if (out.dims[0] !== items.length)
        throw new Error(`model returned batch ${out.dims[0]} for ${items.length} inputs`);
      const outPer = out.data.length / items.length;
      this.avgBatchMs = this.avgBatchMs === 0 ? out.ms : 0.8 * this.avgBatchMs + 0.2 * out.ms;
      this.prices.observe(items[0].direction, 'plain', h * w, items.length, out.ms);
      this.o.onBatch?.(items[0].direction, items.length, out.ms);
      items.forEach((it, k) => {
        if (it.state !== 'running') return;
        it.state = 'settled';
        clearTimeout(it.timer);
        it.unlisten?.();
        it.resolve({
          // A copy, so each response owns its pixels and the batch buffer can be collected.
          data: out.data.slice(k * outPer, (k + 1) * outPer),
          dims: [1, ...out.dims.slice(1)],
          inferenceMs: out.ms,
          queueMs: started - it.enqueuedAt,
          batchSize: items.length,
        });
      });
    } catch (e) {
      for (const it of items) this.fail(it, e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.running = 0;
      this.runningItems = [];
      this.checkIdle();
      this.schedule();
    }
  }

  private checkIdle(): void {
    if (this.waiting.length > 0 || this.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
