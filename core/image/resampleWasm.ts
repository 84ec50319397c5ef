/**
 * Loader for the WebAssembly SIMD passes of the bicubic resampler (core/image/wasm/resample.c,
 * built by tools/build_resample_wasm.sh; the .wasm is committed). One instance per thread, created
 * on first use; `null` where the runtime lacks wasm SIMD, and the caller then uses its scalar passes.
 * The coefficients come from the caller, so both paths share one source of them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface PassCoeffs {
  ksize: number;
  bounds: Int32Array;
  weights: Int32Array;
}

interface Kernel {
  memory: WebAssembly.Memory;
  heapBase: number;
  horizontal: (...args: number[]) => void;
  vertical: (...args: number[]) => void;
}

export const WASM_FILE = path.join(__dirname, 'wasm', 'resample.wasm');
const PAD = 32; // vector loads/stores may run up to 32 bytes past a buffer (see resample.c)
const PAGE = 65536;

let kernel: Kernel | null | undefined;

function load(): Kernel | null {
  return instantiate(readFileSync(WASM_FILE));
}

/**
 * Uses these resample.wasm bytes for the kernel instead of reading WASM_FILE: the browser bundle
 * (web/) has no file system and fetches them. Returns whether the kernel runs here.
 */
export function useResampleWasmBytes(bytes: BufferSource): boolean {
  kernel = instantiate(bytes);
  return kernel !== null;
}

function instantiate(bytes: BufferSource): Kernel | null {
  if (!WebAssembly.validate(bytes)) return null; // no SIMD support
  const memory = new WebAssembly.Memory({ initial: 2 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const e = instance.exports as Record<string, unknown>;
  return {
    memory,
    heapBase: (e.__heap_base as WebAssembly.Global).value as number,
    horizontal: e.horizontal as Kernel['horizontal'],
    vertical: e.vertical as Kernel['vertical'],
  };
}

/** Whether the SIMD kernel runs here. */
export function wasmAvailable(): boolean {
  if (kernel === undefined) kernel = load();
  return kernel !== null;
}

const align = (n: number) => (n + 15) & ~15;

/**
 * Runs the horizontal pass (when `h` is given) then the vertical one (when `v` is given) on 8-bit
 * HWC pixels, returning the new pixels; null where wasm SIMD is unavailable.
 */
export function resampleWasm(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
  h: PassCoeffs | null,
  v: PassCoeffs | null,
): Uint8Array | null {
  if (!wasmAvailable()) return null;
  const k = kernel as Kernel;
  // Layout after __heap_base: input | intermediate | output | coefficients, each padded.
  const srcAt = align(k.heapBase);
  const midAt = align(srcAt + data.length + PAD);
  const midLen = h ? outW * height * channels : 0;
  const outAt = align(midAt + midLen + PAD);
  const outLen = v ? outW * outH * channels : 0;
  let at = align(outAt + outLen + PAD);
  const coeffsAt = (c: PassCoeffs | null) => {
    if (!c) return [0, 0];
    const b = at;
    const w = align(b + c.bounds.byteLength);
    at = align(w + c.weights.byteLength);
    return [b, w];
  };
  const [hb, hw] = coeffsAt(h);
  const [vb, vw] = coeffsAt(v);
  const wvAt = at; // scratch for the RGB horizontal pass's split weights
  if (h) at = align(at + outW * Math.ceil(h.ksize / 4) * 32);
  const need = at + PAD;
  if (need > k.memory.buffer.byteLength) {
    k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / PAGE));
  }
  const buf = k.memory.buffer;
  const u8 = new Uint8Array(buf);
  u8.set(data, srcAt);
  if (h) {
    new Int32Array(buf, hb, h.bounds.length).set(h.bounds);
    new Int32Array(buf, hw, h.weights.length).set(h.weights);
    k.horizontal(srcAt, midAt, height, width, outW, channels, hb, hw, h.ksize, wvAt);
  }
  const vIn = h ? midAt : srcAt;
  let resultAt = vIn;
  let resultLen = h ? midLen : data.length;
  if (v) {
    new Int32Array(buf, vb, v.bounds.length).set(v.bounds);
    new Int32Array(buf, vw, v.weights.length).set(v.weights);
    k.vertical(vIn, outAt, outW * channels, outH, vb, vw, v.ksize);
    resultAt = outAt;
    resultLen = outLen;
  }
  return u8.slice(resultAt, resultAt + resultLen);
}
