/** A side worker's request loop: one request at a time, in arrival order, each answered once. */
import { parentPort } from 'node:worker_threads';
import { firstLine } from '../../core/errorText';
import type { FromSideWorker, SideHandlers, ToSideWorker } from './protocol';

function port() {
  if (!parentPort) throw new Error('a side worker must run in a worker thread');
  return parentPort;
}

/** Sends a line to the training log. */
export function logToMain(line: string): void {
  port().postMessage({ log: line } satisfies FromSideWorker);
}

/** Serves the main thread's requests with `handlers` once `ready` settles (if it fails, every request says why). */
export function serveSideRequests(handlers: SideHandlers, ready: Promise<unknown>): void {
  const main = port();
  const reply = (m: FromSideWorker) => main.postMessage(m);
  let queue: Promise<unknown> = Promise.resolve();
  main.on('message', (msg: ToSideWorker) => {
    queue = queue
      .then(() => ready)
      .then(() => (handlers[msg.type] as (args: unknown) => Promise<unknown>)(msg.args))
      .then(
        (value) => reply({ id: msg.id, ok: true, value }),
        (e: unknown) => reply({ id: msg.id, ok: false, error: firstLine(e) }),
      );
    if (msg.type === 'close') void queue.then(() => main.close());
  });
}
