/**
 * The one WebGPU adapter probe of the house: whether Dawn (the optional `webgpu` package) finds an
 * adapter, what it is, and whether it is a real GPU or a CPU emulating one. Engine-neutral (no tfjs,
 * no onnxruntime): the tfjs backend (core/tf/backend.ts), the onnxruntime engine and the serving
 * provider choice all ask here, so a software adapter is recognised the same way everywhere.
 *
 * Finding an adapter runs in a short child process: Dawn prints its own warnings (e.g. "Couldn't load
 * Vulkan", lavapipe's "maxDynamic… artificially reduced") straight to the process's stderr, which would
 * be noise on every machine; the child's stderr is captured and its first line becomes the reason when
 * no adapter is found. A live Dawn instance also keeps a process alive, which the child does not mind.
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** WebGPU's `isFallbackAdapter` (Dawn sets it for CPU adapters); absent where Dawn does not say. */
  isFallbackAdapter?: boolean;
}

/** 'software': a CPU emulating a GPU (lavapipe/llvmpipe, SwiftShader, WARP); 'hardware': anything else. */
export type AdapterClass = 'hardware' | 'software';

export type AdapterProbe =
  { found: true; adapter: GpuAdapterInfo; adapterClass: AdapterClass } | { found: false; reason: string };

/** Names of CPU rasterisers as drivers report them in vendor/device/description. */
const SOFTWARE_NAMES = /\b(llvmpipe|lavapipe|softpipe|swiftshader|swrast|microsoft basic render|warp)\b/i;

/**
 * Software or hardware. WebGPU's `architecture` is 'software' for lavapipe under Dawn; drivers that do
 * not fill it in are recognised by name (Mesa's vendor string is 'mesa' for its CPU drivers only when
 * the device or description names one: Mesa also drives real GPUs, e.g. radv, anv).
 */
export function classifyAdapter(info: GpuAdapterInfo): AdapterClass {
  if (info.architecture.toLowerCase() === 'software' || info.isFallbackAdapter === true) return 'software';
  const text = `${info.vendor} ${info.device} ${info.description}`;
  return SOFTWARE_NAMES.test(text) ? 'software' : 'hardware';
}

/** A short name for log lines: `llvmpipe`, `NVIDIA H100 80GB HBM3`, … (the description's first clause). */
export function adapterName(info: GpuAdapterInfo): string {
  const first = (s: string) => s.split(/[:(]/)[0].trim();
  return first(info.description) || first(info.device) || info.vendor || 'unknown adapter';
}

function resolveOptional(request: string): string | null {
  try {
    // Under tsx's require hook (worker threads started by core/threads/tsWorker.ts) the resolved
    // path carries a `?namespace=…` query, which is no file name for the child's import().
    return require.resolve(request).replace(/\?.*$/, '');
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
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device,
  description: i.description, isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter } : null) + '\\n');
process.exit(0);
`;

let probed: AdapterProbe | undefined;

/** Whether a WebGPU adapter is available to this process, and its class (cached; ~0.1–1 s the first time). */
export function probeWebGpu(): AdapterProbe {
  if (probed) return probed;
  probed = probeOnce();
  return probed;
}

function probeOnce(): AdapterProbe {
  const dawn = resolveOptional('webgpu');
  if (!dawn) return { found: false, reason: "the optional package 'webgpu' (Dawn for Node) is not installed" };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, pathToFileURL(dawn).href], {
    encoding: 'utf8',
    timeout: 30_000,
    env: process.env,
  });
  const stderr = (r.stderr ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('at '));
  const why = stderr.length > 0 ? `: ${stderr[0].replace(/^(Warning|Error):\s*/, '')}` : '';
  if (r.error || r.status !== 0)
    return { found: false, reason: `WebGPU probe failed${why || ` (${r.error?.message})`}` };
  let info: GpuAdapterInfo | null = null;
  try {
    info = JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null') as GpuAdapterInfo | null;
  } catch {
    return { found: false, reason: `WebGPU probe printed no answer${why}` };
  }
  if (!info) return { found: false, reason: `no WebGPU adapter${why}` };
  return { found: true, adapter: info, adapterClass: classifyAdapter(info) };
}

/**
 * Whether an automatic choice (`--backend auto`, `--device auto`, a provider list nobody wrote by hand)
 * may use the probed adapter: only a hardware one. A software adapter emulates the GPU on the CPU, far
 * slower than the CPU engines it competes with, so it is used only when asked for by name.
 */
export function autoAdapter(
  p: AdapterProbe,
): { usable: true; adapter: GpuAdapterInfo } | { usable: false; reason: string } {
  if (!p.found) return { usable: false, reason: p.reason };
  if (p.adapterClass === 'software')
    return { usable: false, reason: `software WebGPU adapter (${adapterName(p.adapter)}) is used only when asked for` };
  return { usable: true, adapter: p.adapter };
}
