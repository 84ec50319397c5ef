/**
 * tfjs backend selection.
 *
 * 'auto' prefers native TensorFlow on a GPU (@tensorflow/tfjs-node-gpu when nvidia-smi sees one), then
 * WebGPU (Dawn; core/tf/webgpu.ts) when a hardware adapter is found (a software one, a CPU emulating a
 * GPU, only when 'webgpu' is asked for by name: core/gpu/webgpuAdapter.ts), then native TensorFlow on CPU
 * (@tensorflow/tfjs-node), then the wasm backend, then plain JS 'cpu'. The native and WebGPU packages are
 * optional dependencies, loaded with a guarded dynamic import so that their absence is a clean fallback.
 *
 * wasm in Node: the .wasm binaries are loaded from the package's dist folder, and SIMD is used when the
 * runtime validates SIMD bytecode (Node ≥ 16 does). tfjs-backend-wasm 4.x never starts its threaded build
 * under Node (tensorflow/tfjs#3830); with `wasmThreads` > 1 core/tf/wasmThreads.ts starts it instead
 * (XNNPACK on a pthreads pool, which tfjs caps at half the cores), else XNNPACK runs on one thread.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { firstLine } from '../errorText';
import { BACKENDS, type BackendName } from '../config/options';
import { autoAdapter, probeWebGpu } from '../gpu/webgpuAdapter';
import { activateWebGpu, releaseWebGpu } from './webgpu';
import { useThreadedWasm } from './wasmThreads';

export type BackendChoice = BackendName;

export interface BackendInfo {
  /** tfjs backend name now active: 'tensorflow', 'webgpu', 'wasm' or 'cpu'. */
  name: string;
  /** Human-readable reason for the choice (also logged). */
  reason: string;
}

const BACKEND_CHOICES: readonly BackendChoice[] = BACKENDS;

export function parseBackendChoice(value: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new Error(`unknown backend '${value}' (expected one of ${BACKEND_CHOICES.join(', ')})`);
}

/** True when a CUDA GPU is visible to this process (nvidia-smi lists at least one device). */
function gpuVisible(): { visible: boolean; detail: string } {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') {
    return { visible: false, detail: 'CUDA_VISIBLE_DEVICES hides all GPUs' };
  }
  const res = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000 });
  if (res.error || res.status !== 0) return { visible: false, detail: 'nvidia-smi not available or failed' };
  const gpus = res.stdout.split('\n').filter((l) => l.startsWith('GPU '));
  return gpus.length > 0
    ? { visible: true, detail: `${gpus.length} GPU(s): ${gpus[0].trim()}` }
    : { visible: false, detail: 'nvidia-smi lists no GPU' };
}

/** Imports an optional package; returns the failure message instead of throwing. */
async function tryLoad(pkg: string): Promise<string | null> {
  try {
    await import(pkg);
    return null;
  } catch (e) {
    const msg = firstLine(e);
    return /Cannot find (module|package)/.test(msg) ? 'not installed' : msg;
  }
}

/**
 * Loads native TensorFlow; returns the info on success or the reasons each candidate failed. `phase`
 * 'gpu' tries only the GPU build on a visible GPU, 'cpu' only the CPU builds, 'all' both in that order.
 */
async function loadNative(phase: 'gpu' | 'cpu' | 'all'): Promise<BackendInfo | { failures: string[] }> {
  const failures: string[] = [];
  const gpu = gpuVisible();
  const candidates: { pkg: string; why: string }[] = [];
  if (phase !== 'cpu') {
    if (gpu.visible)
      candidates.push({ pkg: '@tensorflow/tfjs-node-gpu', why: `native TensorFlow on GPU (${gpu.detail})` });
    else failures.push(`@tensorflow/tfjs-node-gpu skipped: no GPU visible (${gpu.detail})`);
  }
  if (phase !== 'gpu') {
    candidates.push({ pkg: '@tensorflow/tfjs-node', why: 'native TensorFlow on CPU' });
    if (!gpu.visible) {
      // The GPU build also runs on CPU; worth having when it is the only native package installed.
      candidates.push({ pkg: '@tensorflow/tfjs-node-gpu', why: 'native TensorFlow (GPU build, running on CPU)' });
    }
  }
  for (const c of candidates) {
    const err = await tryLoad(c.pkg);
    if (err === null && (await tf.setBackend('tensorflow'))) {
      await tf.ready();
      return { name: 'tensorflow', reason: `${c.pkg}: ${c.why}` };
    }
    failures.push(`${c.pkg}: ${err ?? 'loaded but the tensorflow backend failed to initialise'}`);
  }
  return { failures };
}

/** WebGPU: any adapter when asked for by name, only a hardware one for 'auto' (see autoAdapter). */
async function loadWebGpu(explicit: boolean): Promise<BackendInfo | { failure: string }> {
  const probe = probeWebGpu();
  if (!probe.found) return { failure: probe.reason };
  if (!explicit) {
    const auto = autoAdapter(probe);
    if (!auto.usable) return { failure: auto.reason };
  }
  try {
    require.resolve('@tensorflow/tfjs-backend-webgpu');
  } catch {
    return { failure: "the optional package '@tensorflow/tfjs-backend-webgpu' is not installed" };
  }
  try {
    require.resolve('@tensorflow/tfjs-backend-webgpu');
  } catch {
    return { failure: "the optional package '@tensorflow/tfjs-backend-webgpu' is not installed" };
  }
  try {
    return { name: 'webgpu', reason: await activateWebGpu(probe.adapter) };
  } catch (e) {
    return { failure: firstLine(e) };
  }
}

/** Directory holding the tfjs-backend-wasm .wasm binaries (next to the package's Node entry point). */
function wasmDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep;
}

let wasmPathsSet = false;

async function loadWasm(threads: number): Promise<BackendInfo | { failure: string }> {
  try {
    // A started backend keeps its build and thread count; a first start may take the threaded build.
    if (threads > 1 && !('wasm' in tf.engine().registry)) useThreadedWasm(threads);
    if (!wasmPathsSet) {
      setWasmPaths(wasmDir());
      wasmPathsSet = true;
    }
    if (!(await tf.setBackend('wasm'))) return { failure: 'wasm backend failed to initialise' };
    await tf.ready();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const running = getThreadsCount();
    return {
      name: 'wasm',
      reason: `WebAssembly (XNNPACK, SIMD ${simd ? 'on' : 'off'}, ${running} thread${running === 1 ? '' : 's'})`,
    };
  } catch (e) {
    return { failure: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Activates a tfjs backend and returns which one and why. `log` receives one line describing the choice.
 * An explicit 'tensorflow' that cannot load is an error; 'auto' falls back tensorflow → wasm → cpu.
 * `wasmThreads`: XNNPACK threads wanted if the wasm backend starts here (see core/tf/wasmThreads.ts).
 */
export async function initBackend(
  choice: BackendChoice,
  log: (msg: string) => void = () => {},
  wasmThreads = 1,
): Promise<BackendInfo> {
  parseBackendChoice(choice);
  let info: BackendInfo | null = null;
  const skipped: string[] = [];
  if (choice === 'tensorflow' || choice === 'auto') {
    const native = await loadNative(choice === 'auto' ? 'gpu' : 'all');
    if ('name' in native) info = native;
    else if (choice === 'tensorflow') {
      throw new Error(
        `backend 'tensorflow' requested but native TensorFlow could not be loaded (${native.failures.join('; ')}); ` +
          `install @tensorflow/tfjs-node (or -gpu) or use --backend wasm`,
      );
    } else skipped.push(...native.failures);
  }
  if (!info && (choice === 'webgpu' || choice === 'auto')) {
    const gpu = await loadWebGpu(choice === 'webgpu');
    if ('name' in gpu) info = gpu;
    else if (choice === 'webgpu') {
      throw new Error(
        `backend 'webgpu' requested but unavailable (${gpu.failure}); it needs the optional packages webgpu and ` +
          `@tensorflow/tfjs-backend-webgpu, a GPU driver with Vulkan and the Vulkan loader (libvulkan1); ` +
          `or use --backend wasm`,
      );
    } else skipped.push(`webgpu: ${gpu.failure}`);
  }
  if (!info && choice === 'auto') {
    const native = await loadNative('cpu');
    if ('name' in native) info = native;
    else skipped.push(...native.failures);
  }
  if (!info && (choice === 'wasm' || choice === 'auto')) {
    const wasm = await loadWasm(wasmThreads);
    if ('name' in wasm) info = wasm;
    else if (choice === 'wasm') throw new Error(`backend 'wasm' failed to initialise: ${wasm.failure}`);
    else skipped.push(`wasm: ${wasm.failure}`);
  }
  if (!info) {
    if (!(await tf.setBackend('cpu'))) throw new Error("backend 'cpu' failed to initialise");
    await tf.ready();
    info = { name: 'cpu', reason: 'plain JavaScript kernels (slowest)' };
  }
  const why = choice === 'auto' && skipped.length > 0 ? ` [auto skipped: ${skipped.join('; ')}]` : '';
  const result = { name: info.name, reason: `${info.reason}${why}` };
  log(`tfjs backend: ${result.name} — ${result.reason}`);
  return result;
}

/**
 * Whether conv/convTranspose should use the forward-conv gradients in core/tf, rather than tfjs's own
 * Conv2DBackpropInput/Filter kernels, which only the native TensorFlow backend implements well: wasm
 * lacks Conv2DBackpropFilter and on WebGPU it took 158 ms of a 256² generator's 192 ms of gradient kernels.
 * CYCLEGAN_WEBGPU_GRADIENTS=tfjs keeps tfjs's kernels on WebGPU (for comparison; gpu:check measures both).
 */
export function usesFastGradients(): boolean {
  const b = tf.getBackend();
  if (b === 'webgpu') return process.env.CYCLEGAN_WEBGPU_GRADIENTS !== 'tfjs';
  return b !== 'tensorflow';
}

/** Whether the active backend computes on a device: reading a tensor back then waits for all queued work. */
export function onDevice(): boolean {
  return tf.getBackend() === 'webgpu';
}

/** Releases device resources of the active backend (the WebGPU device) so that the process can exit. */
export function releaseBackend(): void {
  releaseWebGpu();
}
