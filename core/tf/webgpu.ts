/**
 * tfjs on WebGPU in Node: Dawn (the optional `webgpu` package) under @tensorflow/tfjs-backend-webgpu
 * (optional too). Needs no CUDA toolkit, only a GPU driver with Vulkan and the Vulkan loader. Whether
 * there is an adapter, and what kind, is core/gpu/webgpuAdapter.ts's question.
 *
 * The backend registers itself only if `navigator.gpu` exists when it is imported, and uses the
 * WebGPU globals (GPUBufferUsage, …), so both are installed first. A Dawn device keeps the process
 * alive: `releaseWebGpu` destroys it (the trainer and gpu:check call it when done).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { GpuAdapterInfo } from '../gpu/webgpuAdapter';

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
