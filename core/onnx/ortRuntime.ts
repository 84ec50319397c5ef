/**
 * The one module that imports onnxruntime-node: its session, tensor and option types under house
 * names, session creation, tensors, the log level, and the session options of both users side by
 * side: inference (the server's ORT_* settings and the CLIs' flags, with a provider list) and
 * training (the onnxruntime engine's step graphs on CPU threads). Everything else goes through here.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { TrainingDevice } from '../config/options';

export type OrtSession = ort.InferenceSession;
export type OrtTensor = ort.Tensor;
/** A run's feeds or outputs by name. */
export type OrtValues = ort.InferenceSession.OnnxValueMapType;
export type OrtSessionOptions = ort.InferenceSession.SessionOptions;

export const EXECUTION_PROVIDERS = ['cuda', 'tensorrt', 'webgpu', 'dml', 'coreml', 'cpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];

export type OrtLogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';

/** onnxruntime session options this project exposes for inference (the server's ORT_* settings, the CLIs' flags). */
export interface SessionSettings {
  /** Threads per session; 0 lets onnxruntime choose (one per core). */
  intraOpThreads: number;
  interOpThreads: number;
  graphOptimization: 'disabled' | 'basic' | 'extended' | 'all';
  cpuMemArena: boolean;
  memPattern: boolean;
  /** WebGPU provider options (ignored by the others). */
  webgpuLayout?: 'NCHW' | 'NHWC';
  webgpuGraphCapture?: boolean;
}

/** WebGPU's own options; the other providers run with their defaults. */
function providerEntry(p: ExecutionProviderName, s: SessionSettings): ort.InferenceSession.ExecutionProviderConfig {
  if (p !== 'webgpu' || !s.webgpuLayout) return p;
  return { name: 'webgpu', preferredLayout: s.webgpuLayout };
}

/** Inference sessions: `settings` on the execution providers `providers`, tried in that order by onnxruntime. */
export function inferenceSessionOptions(s: SessionSettings, providers: ExecutionProviderName[]): OrtSessionOptions {
  return {
    executionProviders: providers.map((p) => providerEntry(p, s)),
    // onnxruntime-node passes `extra` through as session config entries, which the WebGPU provider reads.
    ...(s.webgpuGraphCapture &&
      providers.includes('webgpu') && { extra: { 'ep.webgpuexecutionprovider.enableGraphCapture': '1' } }),
    intraOpNumThreads: s.intraOpThreads,
    interOpNumThreads: s.interOpThreads,
    graphOptimizationLevel: s.graphOptimization,
    enableCpuMemArena: s.cpuMemArena,
    enableMemPattern: s.memPattern,
  };
}

/**
 * Training step graphs (train/onnx): on `device` (its provider first, CPU kernels behind it for any
 * node it lacks), on `threads` intra-op threads, nodes in order. `deviceOutputs` stay where the
 * WebGPU provider computed them (tensors of location 'gpu-buffer', fed back to the next run without
 * a copy); onnxruntime-node binds device buffers for WebGPU only, so on CUDA every output comes to
 * the host. No memory pattern: it gives every tensor of a run its own slot in one block, where the
 * arena alone reuses freed chunks at the same speed (peak memory in bench/README.md).
 */
export function trainingSessionOptions(
  threads: number,
  device: TrainingDevice = 'cpu',
  deviceOutputs: readonly string[] = [],
): OrtSessionOptions {
  return {
    executionProviders: device === 'cpu' ? ['cpu'] : [device, 'cpu'],
    ...(device === 'webgpu' &&
      deviceOutputs.length > 0 && {
        preferredOutputLocation: Object.fromEntries(deviceOutputs.map((n) => [n, 'gpu-buffer' as const])),
      }),
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableMemPattern: false,
  };
}

/**
 * Whether onnxruntime-node's CUDA provider library is installed (`ONNXRUNTIME_NODE_INSTALL=cuda12`
 * puts it beside the binding; the package ships without it).
 */
export function cudaProviderInstalled(): boolean {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const dir = path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so'));
}

/** Whether `t` lives in a device buffer (an output kept there by `deviceOutputs`), not in host memory. */
export function isDeviceTensor(t: OrtTensor): boolean {
  return t.location === 'gpu-buffer';
}

/** A session for `model` (a file or the bytes of one); onnxruntime's defaults (CPU) without `options`. */
export function createSession(model: string | Uint8Array, options: OrtSessionOptions = {}): Promise<OrtSession> {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

export function float32Tensor(data: Float32Array, dims: readonly number[]): OrtTensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(data: BigInt64Array, dims: readonly number[]): OrtTensor {
  return new ort.Tensor('int64', data, dims);
}

/** onnxruntime's process-wide log level (its warnings go straight to stderr). */
export function setOrtLogLevel(level: OrtLogLevel): void {
  ort.env.logLevel = level;
}

/** The folder of onnxruntime-node's native binding, where its optional provider libraries (CUDA, TensorRT) go. */
export function ortBindingDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}
