/**
 * Request/reply bookkeeping for one worker thread, shared by every pool that talks to workers
 * (inference sessions, resampling, the two training sides): each request gets an id and a
 * pending promise, the reply carrying that id settles it, and when the thread crashes or exits
 * every pending request is rejected with one clear error and later requests fail at once. The
 * messages themselves stay the owner's: it posts each request and says which messages are
 * replies.
 */
import type { Worker } from 'node:worker_threads';

/** What a reply message carries: the value to resolve with, or the error to reject with. */
export type Reply = { id: number; value: unknown } | { id: number; error: Error };

export interface WorkerRpcOptions<M> {
  /** Names the thread in its errors: "<what> crashed: ...", "<what> exited (code N)". */
  what: string;
  /** The reply a message carries, or null for a message that answers no request (given to onOther). */
  reply(message: M): Reply | null;
  onOther?(message: M): void;
  /** Keep the thread referenced only while requests are out: an idle worker never keeps the process alive. */
  refWhileBusy?: boolean;
  /** Once, when the thread has died (crash, exit, end()), after the pending requests were rejected. */
  onDeath?(error: Error): void;
  /** When the thread has exited (after onDeath). */
  onExit?(code: number): void;
}

export class WorkerRpc<M> {
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  private dead: Error | null = null;

  constructor(
    readonly worker: Worker,
    private readonly opts: WorkerRpcOptions<M>,
  ) {
    if (opts.refWhileBusy) worker.unref();
    worker.on('message', (m: M) => this.receive(m));
    worker.on('error', (e) => this.end(new Error(`${opts.what} crashed: ${e.message}`)));
    worker.on('exit', (code) => {
      this.end(new Error(`${opts.what} exited (code ${code})`));
      opts.onExit?.(code);
    });
  }

  /** False once the thread has crashed, exited or been ended. */
  get alive(): boolean {
    return this.dead === null;
  }

  /** Why the thread is gone (null while alive). */
  get failure(): Error | null {
    return this.dead;
  }

  /** Requests waiting for their reply. */
  get busy(): number {
    return this.pending.size;
  }

  /** Sends a request (`post` posts it with the id it is given) and waits for its reply. */
  request<T>(post: (id: number) => void): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    if (this.opts.refWhileBusy && this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      post(id);
    });
  }

  /** Marks the thread gone with `error` (the first reason stays): pending and later requests fail with it. */
  end(error: Error): void {
    if (this.dead) return;
    this.dead = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    if (this.opts.refWhileBusy) this.worker.unref();
    this.opts.onDeath?.(error);
  }

  private receive(m: M): void {
    const r = this.opts.reply(m);
    if (r === null) return this.opts.onOther?.(m);
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.opts.refWhileBusy && this.pending.size === 0) this.worker.unref();
    if ('error' in r) p.reject(r.error);
    else p.resolve(r.value);
  }
}
