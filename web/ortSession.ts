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

let ortModule: Promise<Ort> | null = null;

function loadOrt(base: string, threads: number): Promise<Ort> {
  ortModule ??= (async () => {
    const ort = (await import(/* @vite-ignore */ `${base}ort.min.mjs`)) as Ort;
    ort.env.wasm.wasmPaths = base;
    ort.env.wasm.numThreads = threads; // fixed once the runtime starts
    ort.env.logLevel = 'error';
    return ort;
  })();
  return ortModule;
}

/** Threads the wasm backend can use here. */
export function defaultThreads(): number {
  return globalThis.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
}

async function webgpuProblem(): Promise<string | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return 'this browser has no WebGPU (navigator.gpu is missing)';
  try {
    if (!(await gpu.requestAdapter())) return 'WebGPU found no adapter';
  } catch (e) {
    return `WebGPU adapter request failed (${(e as Error).message})`;
  }
  return null;
}

export async function openSession(model: Uint8Array, o: OpenOptions): Promise<BrowserSession> {
  const threads = o.threads ?? defaultThreads();
  const skipped: BrowserSession['skipped'] = [];
  let ort: Ort;
  try {
    ort = await loadOrt(o.ortBase, threads);
  } catch (e) {
    throw new Error(`onnxruntime-web could not be loaded (${(e as Error).message})`);
  }
  for (const backend of o.backends) {
    if (backend === 'webgpu') {
      const problem = await webgpuProblem();
      if (problem) {
        skipped.push({ backend, reason: problem });
        continue;
      }
    }
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
