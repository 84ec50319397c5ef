/**
 * tfjs on WebGPU in Node: Dawn (the optional `webgpu` package) under @tensorflow/tfjs-backend-webgpu
 * (optional too). Needs no CUDA toolkit, only a GPU driver with Vulkan and the Vulkan loader.
 *
 * Finding an adapter runs in a short child process: Dawn prints its own warnings (e.g. "Couldn't load
 * Vulkan") straight to the process's stderr, which would be alarming noise on every machine without
 * a GPU; the child's stderr is captured and its first line becomes the reason WebGPU was skipped.
 *
 * The backend registers itself only if `navigator.gpu` exists when it is imported, and uses the
 * WebGPU globals (GPUBufferUsage, …), so both are installed first. A Dawn device keeps the process
 * alive: `releaseWebGpu` destroys it (the trainer and gpu:check call it when done).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';

export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export type AdapterProbe = { found: true; adapter: GpuAdapterInfo } | { found: false; reason: string };

function resolveOptional(request: string): string | null {
  try {
    return require.resolve(request);
  } catch {
    return null;
  }
}

/** The probe the child runs: prints one JSON line, and exits (a live Dawn instance would keep it alive). */
const PROBE = `
const { create } = await import(process.argv[1]);
const gpu = create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const i = a && a.info;
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } : null) + '\\n');
process.exit(0);
`;

let probed: AdapterProbe | undefined;

/** Whether a WebGPU adapter is available to this process (cached; ~0.1 s the first time). */
export function probeWebGpu(): AdapterProbe {
  if (probed) return probed;
  probed = probeOnce();
  return probed;
}

function probeOnce(): AdapterProbe {
  const dawn = resolveOptional('webgpu');
  if (!dawn) return { found: false, reason: "the optional package 'webgpu' (Dawn for Node) is not installed" };
  if (!resolveOptional('@tensorflow/tfjs-backend-webgpu'))
    return { found: false, reason: "the optional package '@tensorflow/tfjs-backend-webgpu' is not installed" };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, pathToFileURL(dawn).href], {
    encoding: 'utf8',
    timeout: 30_000,
    env: process.env,
  });
  const stderr = (r.stderr ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('at '));
  const why = stderr.length > 0 ? `: ${stderr[0].replace(/^Warning:\s*/, '')}` : '';
  if (r.error || r.status !== 0)
    return { found: false, reason: `WebGPU probe failed${why || ` (${r.error?.message})`}` };
  let info: GpuAdapterInfo | null = null;
  try {
    info = JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null') as GpuAdapterInfo | null;
  } catch {
    return { found: false, reason: `WebGPU probe printed no answer${why}` };
  }
  return info ? { found: true, adapter: info } : { found: false, reason: `no WebGPU adapter${why}` };
}

interface DawnModule {
  create(options: string[]): unknown;
  globals: Record<string, unknown>;
}

/**
 * Dawn's module. `webgpu` is an ES module; where import() is compiled to require() (jest), the
 * package's native addon is loaded directly instead (the same `create` and `globals`).
 */
async function loadDawn(): Promise<DawnModule> {
  try {
    return (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    const pkgDir = path.dirname(require.resolve('webgpu/package.json'));
    const arch = process.platform === 'darwin' ? 'universal' : process.arch;
    try {
      const load = createRequire(path.join(pkgDir, 'package.json'));
      return load(`./dist/${process.platform}-${arch}/dawn.node`) as DawnModule;
    } catch {
      throw e;
    }
  }
}

/** tfjs-backend-webgpu flags this project sets (environment override → tfjs flag). */
const FLAGS: Record<string, string> = {
  // Kernels recorded before one queue submit (tfjs default 15). Larger: fewer submits, later start.
  CYCLEGAN_WEBGPU_SUBMIT_BATCH: 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE',
};

/** Registers and activates tfjs's WebGPU backend; the adapter must have been found by `probeWebGpu`. */
export async function activateWebGpu(adapter: GpuAdapterInfo): Promise<string> {
  if (!tf.findBackendFactory('webgpu')) {
    const dawn = await loadDawn();
    const g = globalThis as Record<string, unknown>;
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
    const gpu = dawn.create([]);
    // Node ≥ 21 has a (read-only) global navigator: add `gpu` to it rather than replacing it.
    if (g.navigator && typeof g.navigator === 'object')
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    else Object.defineProperty(g, 'navigator', { value: { gpu }, configurable: true, writable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!tf.findBackendFactory('webgpu')) throw new Error('@tensorflow/tfjs-backend-webgpu did not register');
  }
  for (const [envName, flag] of Object.entries(FLAGS)) {
    const v = process.env[envName];
    if (v !== undefined && v !== '') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${envName} must be a positive integer (got '${v}')`);
      tf.env().set(flag, n);
    }
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error('the WebGPU backend failed to initialise');
  await tf.ready();
  const name = adapter.description || adapter.device || 'adapter';
  return `WebGPU via Dawn (${[adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'unknown vendor'}: ${name})`;
}

/**
 * Frees the WebGPU backend's buffers and destroys its device, so that the process can exit. A no-op
 * when the backend was never registered. Another backend must be set before tfjs is used again.
 */
export function releaseWebGpu(): void {
  if (!tf.findBackend('webgpu')) return;
  const device = (tf.findBackend('webgpu') as unknown as { device?: { destroy(): void } }).device;
  tf.removeBackend('webgpu');
  device?.destroy();
}
