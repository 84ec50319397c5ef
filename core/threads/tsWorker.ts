/**
 * Worker threads whose entry file is TypeScript. The thread evaluates a one-line bootstrap that
 * loads the file through tsx's require hook, which works whether the parent runs under tsx,
 * `node --import tsx` or jest (whose transform does not reach worker threads).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts a worker thread running `file` (an absolute path to a .ts module). */
export function startTsWorker(file: string, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const bootstrap = `require('tsx/cjs/api').require(${JSON.stringify(file)}, ${JSON.stringify(file)});`;
  return new Worker(bootstrap, { ...options, eval: true });
}
