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
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) out[dst + o * ci + c] = wd[src + c * co + o];
    }
  }
  return tf.tensor4d(out, [ty, tx, co, ci]);
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
      const sub = tf.stridedSlice(
        w,
        [ey, ex, 0, 0],
        [ey + s * (ty - 1) + 1, ex + s * (tx - 1) + 1, ci, co],
        [s, s, 1, 1],
      );
      return tf.transpose(tf.reverse(sub, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    };
  }
  const wd = w.dataSync() as Float32Array;
  return (ey: number, ex: number, ty: number, tx: number) => phaseFilter(wd, k, ci, co, s, ey, ex, ty, tx);
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
 */
export function transposedConv(dy: tf.Tensor4D, w: tf.Tensor4D, s: number, p: number, inH: number, inW: number) {
  const [k, , ci] = w.shape;
  const [n, ho, wo] = dy.shape;
  const filter = phaseFilters(w, s);
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
      parts.push(tf.conv2d(src, filter(py.e, px.e, py.taps, px.taps), 1, 'valid'));
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
 * (batch co) and x as the filter is faster instead.
 */
export function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor4D {
  if (s === 1 && dy.shape[3] <= 8) return filterGradNarrow(x, dy, k, p);
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
