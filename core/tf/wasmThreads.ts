/**
 * tfjs-backend-wasm's multi-threaded SIMD build under Node (XNNPACK with a pthreads pool).
 *
 * tfjs 4.22 never uses it in Node (WASM_HAS_MULTITHREAD_SUPPORT is hard-coded false there,
 * tensorflow/tfjs#3830): its loader hands Emscripten the pthread worker script and the main script
 * as blob: URLs, which Node's worker_threads cannot start. What it takes instead, all public pieces:
 *  - the Emscripten factory of the threaded build (wasm-out/tfjs-backend-wasm-threaded-simd.js),
 *    called with `locateFile` pointing the pthread worker at a real file — the package ships its
 *    source only as a string (wasmWorkerContents), so it is written once to the temp folder, with
 *    the same newline escaping tfjs applies before making its blob — and `mainScriptUrlOrBlob` at
 *    the factory's own path (each pthread evaluates it);
 *  - the package's own BackendWasm around that module, registered under the name 'wasm', so every
 *    registered wasm kernel runs on it unchanged.
 * The thread count is setThreadsCount(n) before the backend starts; tfjs's C++ init caps it at half
 * the logical cores (os.cpus().length / 2) — which is what a two-worker trainer wants per worker.
 * XNNPACK splits a convolution or matMul by output tiles and never splits a reduction, so results do
 * not depend on the thread count (tests/core/tf/backend.test.ts checks bit-identity).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const BUILD = 'tfjs-backend-wasm-threaded-simd';

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): unknown;
  tfjs?: Record<string, unknown>;
}

/** Writes the pthread worker script to the temp folder (content-addressed, atomically) and returns its path. */
function workerScript(source: string): string {
  const escaped = source.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(escaped).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `${BUILD}.worker.${hash}.js`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, escaped);
    fs.renameSync(tmp, file);
  }
  return file;
}

async function threadedModule(): Promise<EmscriptenModule> {
  const dir = path.dirname(require.resolve(`@tensorflow/tfjs-backend-wasm/wasm-out/${BUILD}.js`));
  // Plain CommonJS files inside the package, loaded by path (as tfjs's own bundle inlines them).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const factory = require(path.join(dir, `${BUILD}.js`)) as (config: object) => Promise<EmscriptenModule>;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wasmWorkerContents } = require(path.join(dir, `${BUILD}.worker.js`)) as { wasmWorkerContents: string };
  const worker = workerScript(wasmWorkerContents);
  const m = await factory({
    locateFile: (file: string) => (file.endsWith('.worker.js') ? worker : path.join(dir, file)),
    mainScriptUrlOrBlob: path.join(dir, `${BUILD}.js`),
  });
  // The same bindings tfjs's own loader attaches (backend_wasm.js init()).
  m.tfjs = {
    init: m.cwrap('init', null, []),
    initWithThreadsCount: m.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: m.cwrap('get_threads_count', 'number', []),
    registerTensor: m.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: m.cwrap('dispose_data', null, ['number']),
    dispose: m.cwrap('dispose', null, []),
  };
  return m;
}

let registeredThreads = 0;

/**
 * Makes 'wasm' the threaded build with up to `threads` XNNPACK threads. Call before the wasm backend
 * first starts; once per process (a thread count cannot change after tfjs has initialised the backend).
 */
export function useThreadedWasm(threads: number): void {
  if (registeredThreads === threads) return;
  if (registeredThreads !== 0) {
    throw new Error(`the threaded wasm backend already runs with ${registeredThreads} threads`);
  }
  setThreadsCount(threads);
  tf.removeBackend('wasm');
  // The module is typed loosely in tfjs (BackendWasmModule); ours carries the same fields.
  tf.registerBackend('wasm', async () => new BackendWasm((await threadedModule()) as never), 2);
  registeredThreads = threads;
}
