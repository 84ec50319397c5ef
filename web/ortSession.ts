/**
 * The generator in the browser with onnxruntime-web: WebGPU first, then wasm (SIMD; threads when the
 * page is cross-origin isolated). onnxruntime-web is loaded from the page's own server (`ortBase`),
 * never a CDN; each backend that fails is recorded with its reason, so the page can say why.
 */

export type BrowserBackend = 'webgpu' | 'wasm';

export interface OpenOptions {
  /** URL of the folder holding ort.min.mjs and its runtime files. */
  ortBase: string;
  backends: BrowserBackend[];
  /** wasm threads (default: all cores when cross-origin isolated, else 1). */
  threads?: number;
  inputName: string;
  outputName: string;
}

export interface BrowserSession {
  backend: BrowserBackend;
  threads: number;
  /** Backends tried before this one, and why each failed. */
  skipped: { backend: BrowserBackend; reason: string }[];
  run(data: Float32Array, dims: readonly number[]): Promise<{ data: Float32Array; dims: readonly number[] }>;
  release(): Promise<void>;
}

/** The part of onnxruntime-web's API used here (it is loaded at run time from a URL, not bundled). */
interface OrtTensor {
  data: unknown;
  dims: readonly number[];
  getData?(): Promise<unknown>;
  dispose?(): void;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  env: { wasm: { wasmPaths?: string; numThreads?: number; proxy?: boolean }; logLevel?: string };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
}

/**
 * onnxruntime-web's builds: with WebGPU (its runtime is 28 MB of wasm) and wasm only (14 MB, half
 * the download and compile time where WebGPU will not be used).
 */
const ORT_BUILDS = { webgpu: 'ort.min.mjs', wasm: 'ort.wasm.min.mjs' } as const;
const ortModules = new Map<string, Promise<Ort>>();

function loadOrt(base: string, build: keyof typeof ORT_BUILDS, threads: number): Promise<Ort> {
  const url = `${base}${ORT_BUILDS[build]}`;
  if (!ortModules.has(url)) ortModules.set(url, importOrt(url, base, threads));
  return ortModules.get(url)!;
}

async function importOrt(url: string, base: string, threads: number): Promise<Ort> {
  const ort = (await import(/* @vite-ignore */ url)) as Ort;
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = threads; // fixed once the runtime starts
  ort.env.logLevel = 'error';
  return ort;
}

/** Threads the wasm backend can use here. */
export function defaultThreads(): number {
  return globalThis.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
}

interface Adapter {
  info?: { isFallbackAdapter?: boolean; architecture?: string };
}

/** Why WebGPU is not used here, or null. A software adapter (e.g. SwiftShader) is slower than wasm, so only taken when asked for. */
async function webgpuProblem(allowSoftware: boolean): Promise<string | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  if (!gpu) return 'this browser has no WebGPU (navigator.gpu is missing)';
  let adapter: Adapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return `WebGPU adapter request failed (${(e as Error).message})`;
  }
  if (!adapter) return 'WebGPU found no adapter';
  if (adapter.info?.isFallbackAdapter && !allowSoftware)
    return `the WebGPU adapter is a software renderer (${adapter.info.architecture || 'fallback'}), slower than wasm`;
  return null;
}

export async function openSession(model: Uint8Array, o: OpenOptions): Promise<BrowserSession> {
  const threads = o.threads ?? defaultThreads();
  const skipped: BrowserSession['skipped'] = [];
  let backends = o.backends;
  if (backends.includes('webgpu')) {
    const problem = await webgpuProblem(backends.length === 1);
    if (problem) {
      skipped.push({ backend: 'webgpu', reason: problem });
      backends = backends.filter((b) => b !== 'webgpu');
    }
  }
  let ort: Ort;
  try {
    ort = await loadOrt(o.ortBase, backends.includes('webgpu') ? 'webgpu' : 'wasm', threads);
  } catch (e) {
    throw new Error(`onnxruntime-web could not be loaded (${(e as Error).message})`);
  }
  for (const backend of backends) {
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(model, {
        executionProviders: [backend],
        graphOptimizationLevel: 'all',
      });
    } catch (e) {
      skipped.push({ backend, reason: (e as Error).message.split('\n')[0] });
      continue;
    }
    // onnxruntime-web refuses a second run while one is in flight ("Session already started"): runs queue.
    let queue: Promise<unknown> = Promise.resolve();
    const runOnce = async (data: Float32Array, dims: readonly number[]) => {
      const input = new ort.Tensor('float32', data, dims);
      const out = (await session.run({ [o.inputName]: input }))[o.outputName];
      const values = (out.getData ? await out.getData() : out.data) as Float32Array;
      const result = { data: values, dims: out.dims };
      out.dispose?.();
      return result;
    };
    return {
      backend,
      threads: backend === 'wasm' ? threads : 0,
      skipped,
      run(data, dims) {
        const result = queue.then(() => runOnce(data, dims));
        queue = result.catch(() => undefined);
        return result;
      },
      release: () => session.release(),
    };
  }
  throw new Error(
    `no browser backend could run the model: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`,
  );
}

/** GET with progress: `onProgress(received, total)` as the bytes arrive. */
export async function fetchBytes(
  url: string,
  onProgress?: (received: number, total: number) => void,
): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
  const total = Number(r.headers.get('Content-Length')) || 0;
  if (!r.body) return new Uint8Array(await r.arrayBuffer());
  const reader = r.body.getReader();
  const parts: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    onProgress?.(received, total);
  }
  const out = new Uint8Array(received);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
