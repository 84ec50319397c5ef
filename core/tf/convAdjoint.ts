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
 * Polyphase bookkeeping along one spatial axis of conv(input of `inSize`, kernel k, stride s, pad p) whose
 * output has `outSize` rows. Padded input row Y = s·m + r only receives kernel taps kh ≡ r (mod s), from
 * dy rows m - t (t = 0..taps-1). Rows Y ∈ [p, p + inSize) need m ∈ [m0, m1).
 */
function phasePlan(inSize: number, outSize: number, k: number, s: number, p: number) {
  const taps = Math.ceil(k / s);
  const m0 = Math.floor(p / s);
  const m1 = Math.floor((p + inSize - 1) / s) + 1;
  return {
    taps,
    /** Phase rows computed per phase. */
    rows: m1 - m0,
    /** dy rows to add (positive) or drop (negative) before / after, so phase row 0 reads dy row m0 - taps + 1. */
    before: taps - 1 - m0,
    after: m1 - outSize,
    /** Where input row 0 sits in the interleaved phases. */
    offset: p - s * m0,
  };
}

/**
 * The stride-1 correlation filter [ty,tx,co,ci] computing phase (ry, rx): sub-kernel w[ry::s, rx::s] with
 * in/out swapped and taps flipped, so that out[m] = Σ_t dy[m - t]·w[s·t + ry] becomes a forward correlation.
 * `t` rows/cols are allotted; taps beyond the sub-kernel stay zero.
 */
function phaseFilter(wd: Float32Array, k: number, ci: number, co: number, s: number, ry: number, rx: number, ty: number, tx: number) {
  const out = new Float32Array(ty * tx * co * ci);
  for (let a = 0; a < ty; a++) {
    const kh = s * (ty - 1 - a) + ry;
    if (kh >= k) continue;
    for (let b = 0; b < tx; b++) {
      const kw = s * (tx - 1 - b) + rx;
      if (kw >= k) continue;
      const dst = (a * tx + b) * co * ci;
      const src = (kh * k + kw) * ci * co;
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) out[dst + o * ci + c] = wd[src + c * co + o];
    }
  }
  return out;
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
 * Polyphase: every input phase (ry, rx) is a stride-1 correlation of dy with a flipped sub-kernel, so the
 * whole adjoint costs about one forward conv. When s divides k all phases have the same tap count and run
 * as ONE conv with s²·ci output channels; otherwise (k=3, s=2: sub-kernels 2×2, 2×1, 1×2, 1×1) padding the
 * sub-kernels to a common size would waste 7 of 16 taps, so each phase gets its own exact conv.
 */
export function transposedConv(dy: tf.Tensor4D, w: tf.Tensor4D, s: number, p: number, inH: number, inW: number) {
  const [k, , ci, co] = w.shape;
  const n = dy.shape[0];
  const ph = phasePlan(inH, dy.shape[1], k, s, p);
  const pw = phasePlan(inW, dy.shape[2], k, s, p);
  const src = spatialWindow(dy, ph.before, ph.after, pw.before, pw.after);
  const wd = w.dataSync() as Float32Array;
  let phases: tf.Tensor4D;
  if (k % s === 0) {
    const t = ph.taps;
    const f = new Float32Array(t * t * co * s * s * ci);
    // Combined filter [t,t,co,s·s·ci]: phase (ry,rx) owns output channels (ry·s+rx)·ci .. +ci.
    for (let ry = 0; ry < s; ry++) {
      for (let rx = 0; rx < s; rx++) {
        const sub = phaseFilter(wd, k, ci, co, s, ry, rx, t, t);
        const off = (ry * s + rx) * ci;
        for (let tap = 0; tap < t * t * co; tap++) f.set(sub.subarray(tap * ci, tap * ci + ci), tap * s * s * ci + off);
      }
    }
    phases = tf.conv2d(src, tf.tensor4d(f, [t, t, co, s * s * ci]), 1, 'valid');
  } else {
    const parts: tf.Tensor4D[] = [];
    for (let ry = 0; ry < s; ry++) {
      for (let rx = 0; rx < s; rx++) {
        const ty = Math.ceil((k - ry) / s);
        const tx = Math.ceil((k - rx) / s);
        if (ty === 0 || tx === 0) {
          parts.push(tf.zeros([n, ph.rows, pw.rows, ci]));
          continue;
        }
        // A sub-kernel with fewer taps reads dy from a later start row of the shared window.
        const view = tf.slice(src, [0, ph.taps - ty, pw.taps - tx, 0], [n, ph.rows + ty - 1, pw.rows + tx - 1, co]);
        const filter = tf.tensor4d(phaseFilter(wd, k, ci, co, s, ry, rx, ty, tx), [ty, tx, co, ci]);
        parts.push(tf.conv2d(view, filter, 1, 'valid'));
      }
    }
    phases = tf.concat(parts, 3);
  }
  const full = s === 1 ? phases : interleavePhases(phases, s);
  return tf.slice(full, [0, ph.offset, pw.offset, 0], [n, inH, inW, ci]);
}

/**
 * Adjoint in w of conv2d(x, ·, stride s, pad p) for kernel size k: dw[kh,kw,ci,co] = Σ_{n,i,j}
 * xpad[n, s·i+kh, s·j+kw, ci]·dy[n,i,j,co], returned as [k,k,ci,co].
 *
 * Default: one matMul per tap, xviewᵀ[ci, N·Ho·Wo] · dy[N·Ho·Wo, co]; dy is the same weights tensor for all
 * taps, so XNNPACK packs it once. The views are contiguous slices of a channels-first, phase-split copy of
 * xpad. With few output channels (the RGB output layer, the 1-channel PatchGAN head) that matMul is too
 * narrow, and a stride-1 conv with dy as input (batch co) and x as the filter is faster instead.
 */
export function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, s: number, p: number): tf.Tensor4D {
  if (s === 1 && dy.shape[3] <= 8) return filterGradNarrow(x, dy, k, p);
  const [n, h, w, ci] = x.shape;
  const [, ho, wo, co] = dy.shape;
  const t = Math.ceil(k / s);
  // Rows up to s·(ho-1)+k are read; extend to a multiple of s so the phase split is a plain reshape.
  const hp = s * (ho - 1 + t);
  const wp = s * (wo - 1 + t);
  const xt = tf.transpose(spatialWindow(x, p, hp - h - p, p, wp - w - p), [3, 0, 1, 2]); // [ci, n, hp, wp]
  // phases[ry·s+rx, c·n+b, i, j] = xpad[b, s·i+ry, s·j+rx, c]
  const phases =
    s === 1
      ? tf.reshape(xt, [1, ci * n, hp, wp])
      : tf.reshape(tf.transpose(tf.reshape(xt, [ci * n * (hp / s), s, wp / s, s]), [1, 3, 0, 2]), [
          s * s,
          ci * n,
          hp / s,
          wp / s,
        ]);
  const dy2 = tf.reshape(dy, [n * ho * wo, co]) as tf.Tensor2D;
  const taps: tf.Tensor2D[] = [];
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      const begin = [(kh % s) * s + (kw % s), 0, Math.floor(kh / s), Math.floor(kw / s)];
      const view = tf.slice(phases, begin, [1, ci * n, ho, wo]);
      taps.push(tf.matMul(tf.reshape(view, [ci, n * ho * wo]) as tf.Tensor2D, dy2));
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
