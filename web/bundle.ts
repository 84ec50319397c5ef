/**
 * Builds the page's browser pipeline (web/browserEntry.ts) into one ES module with esbuild. The
 * server's preprocess/postprocess modules import sharp and Node built-ins for their server-only
 * functions; the bundle resolves those imports to an inert stand-in, since the functions the
 * browser calls never touch them.
 */
import { build, type Plugin } from 'esbuild';
import * as path from 'node:path';
import { WASM_FILE } from '../core/image/resampleWasm';

export const BROWSER_ENTRY = path.join(__dirname, 'browserEntry.ts');
/** The resampler's WebAssembly kernel, served beside the bundle. */
export const RESAMPLE_WASM_FILE = WASM_FILE;
/** onnxruntime-web's files the page loads: the WebGPU + wasm build and the wasm-only one, each with its threaded SIMD runtime. */
export const ORT_DIST_DIR = path.dirname(require.resolve('onnxruntime-web')); // its dist/ folder
export const ORT_FILES = [
  'ort.min.mjs',
  'ort-wasm-simd-threaded.jsep.mjs',
  'ort-wasm-simd-threaded.jsep.wasm',
  'ort.wasm.min.mjs',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
];

const SERVER_ONLY = /^(node:.*|sharp|onnxruntime-node|fs|path|os|worker_threads)$/;

// Every name the bundled modules import from server-only modules: any property, call or
// construction of one yields the stand-in itself, so top-level server-only code (a path.join, an
// availableParallelism()) evaluates to something harmless. A new import fails the build by name.
const INERT_NAMES = ['availableParallelism', 'join', 'promises', 'readFileSync', 'Worker'];
const INERT = `const f = function () { return stub; };
const stub = new Proxy(f, { get: (_t, k) => (k === Symbol.toPrimitive ? () => '' : stub), apply: () => stub, construct: () => stub });
export default stub;
export const ${INERT_NAMES.map((n) => `${n} = stub`).join(', ')};`;

const inertServerModules: Plugin = {
  name: 'inert-server-modules',
  setup(b) {
    b.onResolve({ filter: SERVER_ONLY }, (a) => ({ path: a.path, namespace: 'inert' }));
    b.onLoad({ filter: /.*/, namespace: 'inert' }, () => ({ contents: INERT, loader: 'js' }));
  },
};

/** The bundle's JavaScript text. */
export async function bundleBrowserPipeline(): Promise<string> {
  const r = await build({
    entryPoints: [BROWSER_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
    define: { __dirname: '""' },
    plugins: [inertServerModules],
  });
  return r.outputFiles[0].text;
}
