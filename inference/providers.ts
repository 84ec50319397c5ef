/**
 * onnxruntime session creation with execution-provider fallback. onnxruntime-node does not fall
 * back by itself: a session asked for ['cuda', 'cpu'] throws when the CUDA provider library is
 * missing. So each configured provider is tried on its own (with `cpu` behind it for nodes the
 * provider lacks, when `cpu` is configured at all) and the first that opens the model wins.
 */
import { readdirSync } from 'node:fs';
import { autoAdapter, probeWebGpu, type AdapterProbe } from '../core/gpu/webgpuAdapter';
import {
  createSession,
  inferenceSessionOptions,
  type ExecutionProviderName,
  type OrtSession,
  type SessionSettings,
} from '../core/onnx/ortRuntime';
import { missingProviderLibrary } from '../core/onnx/providerLibraries';

/** Providers that run on a GPU (or other accelerator): they get the GPU batch size instead. */
export const GPU_PROVIDERS: readonly ExecutionProviderName[] = ['cuda', 'tensorrt', 'webgpu', 'dml', 'coreml'];

/**
 * The providers tried when nobody names any (the server's EXECUTION_PROVIDERS default): an
 * automatic choice, so WebGPU there takes a hardware adapter only. Any other list is one written
 * by hand, where `webgpu` takes whatever adapter there is, a software one (lavapipe) included.
 */
export const DEFAULT_EXECUTION_PROVIDERS: readonly ExecutionProviderName[] = ['cuda', 'webgpu', 'cpu'];

export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  intraOpThreads: 0,
  interOpThreads: 0,
  graphOptimization: 'all',
  cpuMemArena: true,
  memPattern: true,
};

export interface SkippedProvider {
  provider: ExecutionProviderName;
  reason: string;
  /** Not asked at all: providerPrecheck knew it cannot work here (a fact of the machine, not a failure). */
  prechecked?: boolean;
}

/** How a model's provider fallback is logged: a warning only when a provider was tried and failed. */
export function skippedLogLevel(skipped: readonly SkippedProvider[]): 'info' | 'warn' {
  return skipped.some((s) => !s.prechecked) ? 'warn' : 'info';
}

/** Device nodes a GPU driver creates: DRM render nodes (Mesa, AMD, Intel, NVIDIA) and NVIDIA's own. */
function gpuDeviceNodes(): string[] {
  const list = (dir: string, re: RegExp) => {
    try {
      return readdirSync(dir)
        .filter((f) => re.test(f))
        .map((f) => `${dir}/${f}`);
    } catch {
      return [];
    }
  };
  return [...list('/dev/dri', /^renderD\d+$/), ...list('/dev', /^nvidia\d+$/)];
}

/**
 * Why a provider is not even tried on this machine, or null to try it. CUDA and TensorRT need
 * their provider libraries (core/onnx/providerLibraries.ts). onnxruntime's WebGPU provider prints
 * `error: XDG_RUNTIME_DIR is invalid` and a Vulkan warning straight to stderr on a machine without
 * a GPU, so on Linux it is tried only where a GPU device node exists, or, when `webgpu` was `named`
 * (a provider list written by hand), where the quiet adapter probe finds any adapter: a software
 * one (lavapipe has no device node) only then. An automatic list passes over a software adapter
 * the probe recognises.
 */
export function providerPrecheck(
  provider: ExecutionProviderName,
  nodes: () => string[] = gpuDeviceNodes,
  named = false,
  adapter: () => AdapterProbe = probeWebGpu,
): string | null {
  const missingLibrary = missingProviderLibrary(provider);
  if (missingLibrary !== null) return missingLibrary;
  if (provider !== 'webgpu') return null;
  const noNode = process.platform === 'linux' && nodes().length === 0;
  if (named) {
    if (!noNode) return null;
    const p = adapter();
    return p.found ? null : `no WebGPU adapter (${p.reason})`;
  }
  if (noNode) return 'not probed: no GPU device node (/dev/dri/renderD*, /dev/nvidia*)';
  const p = adapter();
  const auto = p.found ? autoAdapter(p) : undefined;
  return auto && !auto.usable ? `${auto.reason} (name it in the provider list to use it)` : null;
}

function reasonOf(e: unknown): string {
  const msg = String(e instanceof Error ? e.message : e);
  // onnxruntime messages carry source locations and multiple lines; the last clause says what failed.
  const line = (msg.split('\n').find((l) => l.trim().length > 0) ?? msg).trim();
  // ORT_ENFORCE reads "<file>:<line> <function> <condition> was false. <what went wrong>".
  const enforced = / was false\.\s*(.+)$/.exec(line);
  return enforced ? enforced[1] : line.replace(/^\/onnxruntime_src\/\S+\s+/, '');
}

export interface OpenedSession {
  session: OrtSession;
  provider: ExecutionProviderName;
  skipped: SkippedProvider[];
}

/**
 * Opens `model` with the first provider in `providers` that works, skipping those listed in
 * `unavailable` (known bad from an earlier model). Providers that failed before one succeeded are
 * added to `unavailable`; when every provider fails the model itself is the likely culprit, so
 * nothing is marked and the error says why each one failed.
 */
export async function openSession(
  model: string | Uint8Array,
  providers: ExecutionProviderName[],
  settings: SessionSettings,
  unavailable: Set<ExecutionProviderName> = new Set(),
): Promise<OpenedSession> {
  const skipped: SkippedProvider[] = [];
  const withCpu = providers.includes('cpu');
  const named = providers.join() !== DEFAULT_EXECUTION_PROVIDERS.join();
  for (const provider of providers) {
    if (unavailable.has(provider)) continue;
    const precheck = providerPrecheck(provider, gpuDeviceNodes, named);
    if (precheck !== null) {
      skipped.push({ provider, reason: precheck, prechecked: true });
      continue;
    }
    const list: ExecutionProviderName[] = provider === 'cpu' || !withCpu ? [provider] : [provider, 'cpu'];
    try {
      const session = await createSession(model, inferenceSessionOptions(settings, list));
      for (const s of skipped) unavailable.add(s.provider);
      return { session, provider, skipped };
    } catch (e) {
      skipped.push({ provider, reason: reasonOf(e) });
    }
  }
  if (skipped.length === 0)
    throw new Error(`every configured execution provider (${providers.join(', ')}) is unavailable`);
  throw new Error(skipped.map((s) => `${s.provider}: ${s.reason}`).join('; '));
}
