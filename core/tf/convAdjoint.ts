/**
 * The two adjoints of a strided, zero-padded 2-D convolution, built from forward convolutions and matMuls.
 *
 * conv2d(x, w, s, p) (NHWC input, HWIO filter) is linear in x and in w. Its adjoint in x is the transposed
 * convolution (which is also PyTorch's ConvTranspose2d forward); its adjoint in w correlates x with dy.
 * tfjs computes them with Conv2DBackpropInput / Conv2DBackpropFilter: the wasm backend has no
 * Conv2DBackpropFilter at all and a Conv2DBackpropInput ~10x slower than its XNNPACK forward conv.
 *
 * Choices below were measured on the wasm backend (Node 20, SIMD, 1 thread; see bench/ops.ts):
 *  - Only rank ≤ 4 Slice/Transpose are used: wasm's rank-5/6 versions, Reverse, DepthToSpace and
 *    StridedSlice all ran 10-100x slower than a plain copy should.
 *  - Filter rearrangements (flip, in/out swap, polyphase split) are done in JS on the small filter.
 *  - matMul is only called un-transposed with a rank-2 "weights" operand: wasm routes exactly that case to
 *    XNNPACK fully-connected (cached per weights tensor) and everything else to a naive loop.
 */
import * as tf from '@tensorflow/tfjs';
import { onDevice } from './backend';

/** tfjs explicit padding for a symmetric zero pad of the two spatial axes of an NHWC tensor. */
export function explicitPad(pad: number): [[number, number], [number, number], [number, number], [number, number]] {
  return [
    [0, 0],
    [pad, pad],
    [pad, pad],
    [0, 0],
  ];
}

/** Zero-extends (positive) or crops (negative) the two spatial axes of an NHWC tensor. */
export function spatialWindow(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let out = t;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = out.shape;
    const ct = Math.max(0, -top);
    const cl = Math.max(0, -left);
    out = tf.slice(out, [0, ct, cl, 0], [n, h - ct - Math.max(0, -bottom), w - cl - Math.max(0, -right), c]);
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    out = tf.pad(out, [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ]);
  }
  return out;
}

/**
 * One output phase along one spatial axis of the x-adjoint of conv(kernel k, stride s, pad p) whose dy has
 * `dyLen` rows: output rows y = s·q + r (q < rows) receive, from xpad row Y = y + p = s·(q + c) + e, the
 * kernel taps kh = s·t + e (t < taps) applied to dy rows q + c - t.
 */
function outputPhase(r: number, outLen: number, dyLen: number, k: number, s: number, p: number) {
  const e = (r + p) % s;
  const c = Math.floor((r + p) / s);
  const taps = Math.ceil((k - e) / s);
  const rows = Math.ceil(outLen / s);
  /** dy rows to add (positive) or drop (negative) so that window row q + a is dy row q + c - (taps - 1) + a. */
  return { e, taps, rows, before: taps - 1 - c, after: rows + c - dyLen };
}

/**
 * Stride-1 correlation filter [ty,tx,co,ci] for one output phase: the sub-kernel w[ey::s, ex::s] with in/out
 * swapped and its taps flipped, so that Σ_t dy[q + c - t]·w[s·t + e] becomes a forward correlation.
 */
function phaseFilter(
  wd: Float32Array,
  k: number,
  ci: number,
  co: number,
  s: number,
  ey: number,
  ex: number,
  ty: number,
  tx: number,
) {
  const out = new Float32Array(ty * tx * co * ci);
  for (let a = 0; a < ty; a++) {
    const kh = s * (ty - 1 - a) + ey;
    for (let b = 0; b < tx; b++) {
      const kw = s * (tx - 1 - b) + ex;
      const dst = (a * tx + b) * co * ci;
      const src = (kh * k + kw) * ci * co;
      // Blocked over (c, o) so that both the strided reads and the strided writes stay in cache.
      for (let c0 = 0; c0 < ci; c0 += 32) {
        const c1 = Math.min(ci, c0 + 32);
        for (let o0 = 0; o0 < co; o0 += 32) {
          const o1 = Math.min(co, o0 + 32);
          for (let c = c0; c < c1; c++) for (let o = o0; o < o1; o++) out[dst + o * ci + c] = wd[src + c * co + o];
        }
      }
    }
  }
  return tf.tensor4d(out, [ty, tx, co, ci]);
}

/**
 * Phase filters of recent filter versions, keyed by the filter's data (a tfjs dataId object: a new
 * weight value after an optimiser step is new data, and an id object is never reused while held here).
 * A generator's weight meets 3 backward passes (and a transposed conv's 3 forwards) per iteration with
 * the same value: without the cache each rebuilt its phase filters in JS and, worse, handed XNNPACK a new
 * filter tensor to repack (tfjs caches the packed XNNPACK operator per filter tensor) — measured 1.3-5×
 * the cost of the convolution itself for the 4×4 PatchGAN and 3×3 ResNet filters. Entries go when their
 * weight's data is freed (the next optimiser step), or least recently used first beyond a byte budget;
 * `clearConvCaches` frees them all.
 */
const PHASE_FILTER_CACHE_BYTES = 512 * 2 ** 20;
const phaseFilterCache = new Map<object, Map<string, tf.Tensor4D>>();
let phaseFilterBytes = 0;

function cachedPhaseFilter(id: object, key: string, make: () => tf.Tensor4D): tf.Tensor4D {
  let entry = phaseFilterCache.get(id);
  if (entry)
    phaseFilterCache.delete(id); // re-inserted below as the most recent
  else entry = new Map();
  phaseFilterCache.set(id, entry);
  let f = entry.get(key);
  if (!f) {
    f = tf.keep(make());
    entry.set(key, f);
    phaseFilterBytes += 4 * f.size;
    // Drop the filters of weights whose data is gone (the previous step's values), then the least recent.
    const backend = tf.backend();
    for (const [oldId, old] of phaseFilterCache) {
      if (oldId === id) continue;
      if (backend.refCount(oldId) > 0 && phaseFilterBytes <= PHASE_FILTER_CACHE_BYTES) continue;
      for (const t of old.values()) {
        phaseFilterBytes -= 4 * t.size;
        t.dispose();
      }
      phaseFilterCache.delete(oldId);
    }
  }
  return f;
}

/** Frees the cached phase filters (tests that count tensors; a model that is done training). */
export function clearConvCaches(): void {
  for (const entry of phaseFilterCache.values()) for (const t of entry.values()) t.dispose();
  phaseFilterCache.clear();
  phaseFilterBytes = 0;
}

/**
 * The phase filters of `w` as `(ey, ex, ty, tx) => filter`. On wasm/cpu the filter is rearranged in JS (its
 * data is already in memory; wasm's StridedSlice/Reverse are slow). On a device (WebGPU) reading w back
 * would stall the queue once per convolution, so the same sub-kernel is cut, flipped and swapped there.
 */
export function phaseFilters(w: tf.Tensor4D, s: number, where: 'host' | 'device' = onDevice() ? 'device' : 'host') {
  const [k, , ci, co] = w.shape;
  if (where === 'device') {
    return (ey: number, ex: number, ty: number, tx: number) => {
      const end = [ey + s * (ty - 1) + 1, ex + s * (tx - 1) + 1, ci, co];
      const sub = tf.stridedSlice(w, [ey, ex, 0, 0], end, [s, s, 1, 1]);
      return tf.transpose(tf.reverse(sub, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    };
  }
  let wd: Float32Array | null = null;
  return (ey: number, ex: number, ty: number, tx: number) => {
    wd ??= w.dataSync() as Float32Array;
    return phaseFilter(wd, k, ci, co, s, ey, ex, ty, tx);
  };
}

/** Interleaves phases [N, A, B, s·s·C] (channel = (ry·s + rx)·C + c) into [N, s·A, s·B, C] with rank-4 ops only. */
function interleavePhases(phases: tf.Tensor4D, s: number): tf.Tensor4D {
  const [n, a, b, ch] = phases.shape;
  const c = ch / (s * s);
  const rows = tf.transpose(tf.reshape(phases, [n * a, b, s, s * c]), [0, 2, 1, 3]);
  return tf.reshape(rows, [n, a * s, b * s, c]);
}

/**
 * Adjoint in x of conv2d(x: [N,inH,inW,ci], w: [k,k,ci,co], stride s, symmetric zero pad p), applied to
 * dy [N,Ho,Wo,co]; returns [N,inH,inW,ci]. With w read as a conv2dTranspose filter [k,k,outC,inC] this is
 * exactly PyTorch's ConvTranspose2d(stride s, padding p) with an inH×inW output.
 *
 * Polyphase: output phase (ry, rx) — rows ≡ ry, columns ≡ rx (mod s) — only meets the sub-kernel
 * w[ey::s, ex::s], so it is one stride-1 correlation of (zero-extended) dy with that sub-kernel flipped. The
 * s² phase convs have exactly k² taps between them, i.e. the adjoint costs one forward conv's arithmetic,
 * and the phases interleave with a reshape/transpose. Phases are indexed by output (not padded-input) row so
 * that no leading crop is needed: for the usual even sizes the interleave is already the answer.
 * `filterKey`: the dataId of the tensor whose values `w` holds, for the phase-filter cache (a gradient
 * function only sees a saved copy of the filter, which on wasm is new data every call).
 */
export function transposedConv(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  s: number,
  p: number,
  inH: number,
  inW: number,
  filterKey: object = w.dataId,
) {
  const [k, , ci] = w.shape;
  const [n, ho, wo] = dy.shape;
  const make = phaseFilters(w, s);
  const parts: tf.Tensor4D[] = [];
  let rows = 0;
  let cols = 0;
  for (let ry = 0; ry < s; ry++) {
    for (let rx = 0; rx < s; rx++) {
      const py = outputPhase(ry, inH, ho, k, s, p);
      const px = outputPhase(rx, inW, wo, k, s, p);
      rows = py.rows;
      cols = px.rows;
      if (py.taps === 0 || px.taps === 0) {
        parts.push(tf.zeros([n, py.rows, px.rows, ci]));
        continue;
      }
      const src = spatialWindow(dy, py.before, py.after, px.before, px.after);
      const filter = cachedPhaseFilter(filterKey, `${s}:${py.e}:${px.e}:${py.taps}:${px.taps}`, () =>
        make(py.e, px.e, py.taps, px.taps),
      );
      parts.push(tf.conv2d(src, filter, 1, 'valid'));
    }
  }
  const full = s === 1 ? parts[0] : interleavePhases(tf.concat(parts, 3), s);
  return rows * s === inH && cols * s === inW ? full : tf.slice(full, [0, 0, 0, 0], [n, inH, inW, ci]);
}

/**
 * Adjoint in w of conv2d(x, ·, stride s, pad p) for kernel size k: dw[kh,kw,ci,co] = Σ_{n,i,j}
 * xpad[n, s·i+kh, s·j+kw, ci]·dy[n,i,j,co], returned as [k,k,ci,co].
 *
 * Default: one matMul per tap, xview[ci, L] · dy[L, co] over the L flattened positions; dy is the same
 * weights tensor for all k² taps, so XNNPACK packs it once, and each xview is a row-contiguous 2-D slice of a
 * channels-first, phase-split copy of xpad. (Measured alternatives: a forward conv with batch and channel
 * axes swapped — x as [ci,H,W,N], dy as the filter — ran 2-3x slower, its input-channel depth being the batch
 * size 1; a single im2col matMul needs k² copies of x at once.) With few output channels (the RGB output
 * layer, the 1-channel PatchGAN head) that matMul is too narrow, and a stride-1 conv with dy as the input
 * (batch co) and x as the filter is faster instead. With few output positions (PatchGAN's 8×8 and 7×7
 * maps at 64²) the k² matMuls have an inner dimension of a few dozen and each rewrites the whole [ci,co]
 * block, so one im2col matMul is used instead (measured 2× faster there; equal at 15×15, slower above).
 */
export function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor4D {
  if (s === 1 && dy.shape[3] <= 8) return filterGradNarrow(x, dy, k, p);
  if (dy.shape[0] * dy.shape[1] * dy.shape[2] <= SMALL_MAP_POSITIONS) return filterGradIm2col(x, dy, k, s, p);
  const [n, h, w, ci] = x.shape;
  const [, ho, wo, co] = dy.shape;
  const t = Math.ceil(k / s);
  // Each phase is a grid of hq×wq samples; rows up to s·(ho-1)+k of xpad are read, rounded up to whole phases.
  const hq = ho + t - 1;
  const wq = wo + t - 1;
  const xt = tf.transpose(spatialWindow(x, p, s * hq - h - p, p, s * wq - w - p), [3, 0, 1, 2]); // [ci,n,s·hq,s·wq]
  // Rows (ry·s+rx)·ci + c of `flat` hold xpad[b, s·i+ry, s·j+rx, c] at column (b·hq + i)·wq + j.
  const flat =
    s === 1
      ? tf.reshape(xt, [ci, n * hq * wq])
      : tf.reshape(tf.transpose(tf.reshape(xt, [ci * n * hq, s, wq, s]), [1, 3, 0, 2]), [s * s * ci, n * hq * wq]);
  // Tap offset (a,b) inside a phase is a flat column shift a·wq + b. dy is zero-extended to the hq×wq grid, so
  // shifted reads that wrap into the next row or sample only ever meet zeros, and the last `maxShift`
  // positions (all zero in dy) can be dropped to keep every shifted view inside `flat`.
  const maxShift = (t - 1) * wq + (t - 1);
  const len = n * hq * wq - maxShift;
  const dyFlat = tf.reshape(spatialWindow(dy, 0, t - 1, 0, t - 1), [n * hq * wq, co]);
  const weights = tf.slice(dyFlat, [0, 0], [len, co]) as tf.Tensor2D;
  // wasm's Slice first copies its whole source: split the phases apart once so each tap reads only its phase.
  const phases = s === 1 ? [flat] : tf.split(flat, s * s, 0);
  const taps: tf.Tensor2D[] = [];
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      const shift = Math.floor(kh / s) * wq + Math.floor(kw / s);
      const view = tf.slice(phases[(kh % s) * s + (kw % s)], [0, shift], [ci, len]) as tf.Tensor2D;
      taps.push(tf.matMul(view, weights));
      view.dispose(); // one x-sized copy alive at a time, whatever k is
    }
  }
  return tf.reshape(tf.stack(taps), [k, k, ci, co]);
}

/**
 * Stride-1 filter adjoint for narrow dy: dw[kh,kw,c,o] = Σ_u dyPad[o, u + (k-1-kh)]·xpad[u, c], i.e. a valid
 * conv of dy (zero-extended by k-1, batch axis = co, channel axis = N) with xpad as a [Hp,Wp,N,ci] filter;
 * its [co,k,k,ci] output is dw flipped, which is undone on the small result.
 */
function filterGradNarrow(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, p: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  const [, ho, wo] = dy.shape;
  const hp = ho + k - 1;
  const wp = wo + k - 1;
  const xf = tf.transpose(spatialWindow(x, p, hp - h - p, p, wp - w - p), [1, 2, 0, 3]);
  const dyt = tf.transpose(spatialWindow(dy, k - 1, k - 1, k - 1, k - 1), [3, 1, 2, 0]);
  const flipped = tf.conv2d(dyt, xf, 1, 'valid');
  return tf.transpose(tf.reverse(flipped, [1, 2]), [1, 2, 3, 0]);
}

/** Output positions (n·ho·wo) up to which the filter adjoint is one im2col matMul (see filterGrad). */
const SMALL_MAP_POSITIONS = 128;

interface Geometry {
  n: number;
  ci: number;
  k: number;
  s: number;
  ho: number;
  wo: number;
  /** Taps per axis inside one phase, and each phase's rows/columns (hq = ho + t - 1). */
  t: number;
  hq: number;
  wq: number;
}

function geometry(xShape: number[], k: number, s: number, p: number): Geometry {
  const [n, h, w, ci] = xShape;
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const wo = Math.floor((w + 2 * p - k) / s) + 1;
  const t = Math.ceil(k / s);
  return { n, ci, k, s, ho, wo, t, hq: ho + t - 1, wq: wo + t - 1 };
}

/** xpad as [s, n·hq, wq, s·ci]: phase row ry at [ry], column phase rx in channel block rx. */
function phaseSplit(x: tf.Tensor4D, g: Geometry, p: number): tf.Tensor4D {
  const { n, ci, s, hq, wq } = g;
  const [, h, w] = x.shape;
  const xp = spatialWindow(x, p, s * hq - h - p, p, s * wq - w - p); // [n, s·hq, s·wq, ci]
  if (s === 1) return tf.reshape(xp, [1, n * hq, wq, ci]);
  return tf.transpose(tf.reshape(xp, [n * hq, s, wq, s * ci]), [1, 0, 2, 3]);
}

/** The im2col matrix [n·ho·wo, k·k·ci] of conv(k, stride s, pad p) applied to x. */
function im2col(x: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor2D {
  const g = geometry(x.shape, k, s, p);
  const { n, ci, ho, wo, hq, wq } = g;
  const ph = tf.reshape(phaseSplit(x, g, p), [s * n, hq, wq, s * ci]);
  const taps: tf.Tensor4D[] = [];
  for (let b = 0; b < n; b++) {
    const row: tf.Tensor4D[] = [];
    for (let kh = 0; kh < k; kh++) {
      for (let kw = 0; kw < k; kw++) {
        const begin = [(kh % s) * n + b, Math.floor(kh / s), Math.floor(kw / s), (kw % s) * ci];
        row.push(tf.slice(ph, begin, [1, ho, wo, ci]) as tf.Tensor4D);
      }
    }
    taps.push(tf.concat(row, 3));
  }
  return tf.reshape(n === 1 ? taps[0] : tf.concat(taps, 0), [n * ho * wo, k * k * ci]);
}

/** dw = colsᵀ·dy as [k,k,ci,co]: one matMul with dy as the (XNNPACK-packed) weights operand. */
function filterGradIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor4D {
  const ci = x.shape[3];
  const [n, ho, wo, co] = dy.shape;
  const colsT = tf.transpose(im2col(x, k, s, p));
  return tf.reshape(tf.matMul(colsT, tf.reshape(dy, [n * ho * wo, co])), [k, k, ci, co]);
}
