/**
 * A plain TypeScript forward pass of a generator, straight from the PyTorch definitions of each
 * layer (NCHW, float64 accumulation), used as the reference the exported ONNX is checked against.
 * It shares only the Layer list with the ONNX builder, so a mistake in the builder's mapping to
 * ONNX operators shows up as a mismatch. Slow but dependency-free; any function with the
 * `ReferenceFn` signature (e.g. the tfjs generator) can replace it.
 */
import type { Layer, NetworkSpec } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import { checkWeights } from './onnxBuilder';

/** Runs a generator on an NCHW float32 batch and returns the NCHW output. */
export type ReferenceFn = (input: Float32Array, shape: readonly number[]) => Promise<Float32Array>;

/** One sample's feature map: C planes of H×W. */
interface Map3 {
  c: number;
  h: number;
  w: number;
  d: Float64Array;
}

export function referenceGenerator(spec: NetworkSpec, weights: StateDict): ReferenceFn {
  checkWeights(spec, weights);
  const get = (key: string): Float32Array => weights.get(key)!.data;
  return async (input, shape) => {
    const [n, c, h, w] = shape;
    if (shape.length !== 4 || c !== spec.inputNc || input.length !== n * c * h * w)
      throw new Error(`reference: expected input [N, ${spec.inputNc}, H, W], got [${shape}]`);
    const outs: Map3[] = [];
    for (let s = 0; s < n; s++) {
      const x: Map3 = { c, h, w, d: Float64Array.from(input.subarray(s * c * h * w, (s + 1) * c * h * w)) };
      outs.push(run(spec.layers, x, get));
      // Let other work (timers, progress output) in between samples.
      await new Promise((r) => setImmediate(r));
    }
    const size = outs[0].c * outs[0].h * outs[0].w;
    const out = new Float32Array(n * size);
    outs.forEach((o, i) => out.set(o.d, i * size));
    return out;
  };
}

function run(layers: Layer[], x: Map3, get: (key: string) => Float32Array): Map3 {
  for (const l of layers) {
    switch (l.op) {
      case 'conv':
        x = conv(x, get(`${l.name}.weight`), l.bias ? get(`${l.name}.bias`) : null, l.outC, l.kernel, l.stride, l.pad);
        break;
      case 'convTranspose':
        x = convTranspose(
          x,
          get(`${l.name}.weight`),
          l.bias ? get(`${l.name}.bias`) : null,
          l.outC,
          l.kernel,
          l.stride,
          l.pad,
          l.outputPad,
        );
        break;
      case 'reflectPad':
        x = reflectPad(x, l.pad);
        break;
      case 'instanceNorm':
        x = instanceNorm(x, l.eps);
        break;
      case 'batchNorm':
        x = batchNormEval(
          x,
          get(`${l.name}.weight`),
          get(`${l.name}.bias`),
          get(`${l.name}.running_mean`),
          get(`${l.name}.running_var`),
          l.eps,
        );
        break;
      case 'relu':
        x = map(x, (v) => (v > 0 ? v : 0));
        break;
      case 'leakyRelu': {
        const a = l.alpha;
        x = map(x, (v) => (v > 0 ? v : a * v));
        break;
      }
      case 'tanh':
        x = map(x, Math.tanh);
        break;
      case 'dropout':
        break; // eval mode
      case 'residual': {
        const y = run(l.body, x, get);
        const d = new Float64Array(x.d.length);
        for (let i = 0; i < d.length; i++) d[i] = x.d[i] + y.d[i];
        x = { ...x, d };
        break;
      }
      case 'skipConcat': {
        const y = run(l.body, x, get);
        if (y.h !== x.h || y.w !== x.w)
          throw new Error(`reference: skip connection size mismatch ${x.h}x${x.w} vs ${y.h}x${y.w}`);
        const d = new Float64Array(x.d.length + y.d.length);
        d.set(x.d);
        d.set(y.d, x.d.length);
        x = { c: x.c + y.c, h: x.h, w: x.w, d };
        break;
      }
    }
  }
  return x;
}

function map(x: Map3, f: (v: number) => number): Map3 {
  const d = new Float64Array(x.d.length);
  for (let i = 0; i < d.length; i++) d[i] = f(x.d[i]);
  return { ...x, d };
}

/**
 * out[o, p] += Σ_j a[o, j] · b[p, j]: both operands row-major along j, so the inner loop is two
 * contiguous dot products; a 2×2 block of outputs shares each load and stays in registers.
 */
function accumulateProducts(out: Float64Array, a: Float64Array, b: Float64Array, rows: number, K: number, P: number) {
  for (let o = 0; o < rows; o += 2) {
    const o1 = Math.min(o + 1, rows - 1);
    for (let p = 0; p < P; p += 2) {
      const p1 = Math.min(p + 1, P - 1);
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      const a0 = o * K;
      const a1 = o1 * K;
      const b0 = p * K;
      const b1 = p1 * K;
      for (let j = 0; j < K; j++) {
        const x0 = a[a0 + j];
        const x1 = a[a1 + j];
        const y0 = b[b0 + j];
        const y1 = b[b1 + j];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      // At an odd edge o1 = o or p1 = p: those duplicate sums are simply not stored.
      out[o * P + p] += s00;
      if (p1 !== p) out[o * P + p1] += s01;
      if (o1 !== o) {
        out[o1 * P + p] += s10;
        if (p1 !== p) out[o1 * P + p1] += s11;
      }
    }
  }
}

/** PyTorch Conv2d, weight [out, in, k, k], zero padding `pad` on every side (im2col, then dot products). */
function conv(
  x: Map3,
  weight: Float32Array,
  bias: Float32Array | null,
  outC: number,
  k: number,
  stride: number,
  pad: number,
): Map3 {
  const ho = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  if (ho < 1 || wo < 1) throw new Error(`reference: input ${x.h}x${x.w} too small for a ${k}x${k} convolution`);
  const P = ho * wo;
  const K = x.c * k * k;
  // cols[(oy, ox), (i, ky, kx)] = x[i, oy·s − pad + ky, ox·s − pad + kx], zero outside the image.
  const cols = new Float64Array(P * K);
  for (let i = 0; i < x.c; i++) {
    for (let ky = 0; ky < k; ky++) {
      for (let kx = 0; kx < k; kx++) {
        const j = (i * k + ky) * k + kx;
        const oxFrom = Math.max(0, Math.ceil((pad - kx) / stride));
        const oxTo = Math.min(wo - 1, Math.floor((x.w - 1 + pad - kx) / stride));
        for (let oy = 0; oy < ho; oy++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= x.h) continue;
          const src = (i * x.h + iy) * x.w - pad + kx;
          for (let ox = oxFrom; ox <= oxTo; ox++) cols[(oy * wo + ox) * K + j] = x.d[src + ox * stride];
        }
      }
    }
  }
  const out = new Float64Array(outC * P);
  if (bias) for (let o = 0; o < outC; o++) out.fill(bias[o], o * P, (o + 1) * P);
  accumulateProducts(out, Float64Array.from(weight), cols, outC, K, P);
  return { c: outC, h: ho, w: wo, d: out };
}

/**
 * PyTorch ConvTranspose2d, weight [in, out, k, k]: every input pixel scatters a k×k patch per
 * output channel. Computed as patches[(o, ky, kx), p] = Σ_i w[i, (o, ky, kx)] · x[i, p], then
 * each patch value added at (iy·s − pad + ky, ix·s − pad + kx).
 */
function convTranspose(
  x: Map3,
  weight: Float32Array,
  bias: Float32Array | null,
  outC: number,
  k: number,
  stride: number,
  pad: number,
  outputPad: number,
): Map3 {
  const ho = (x.h - 1) * stride - 2 * pad + k + outputPad;
  const wo = (x.w - 1) * stride - 2 * pad + k + outputPad;
  const P = x.h * x.w;
  const R = outC * k * k;
  // Both operands transposed so that the sum over input channels runs along rows.
  const wT = new Float64Array(R * x.c);
  for (let i = 0; i < x.c; i++) for (let r = 0; r < R; r++) wT[r * x.c + i] = weight[i * R + r];
  const xT = new Float64Array(P * x.c);
  for (let i = 0; i < x.c; i++) for (let p = 0; p < P; p++) xT[p * x.c + i] = x.d[i * P + p];
  const patches = new Float64Array(R * P);
  accumulateProducts(patches, wT, xT, R, x.c, P);
  const out = new Float64Array(outC * ho * wo);
  for (let o = 0; o < outC; o++) {
    const plane = o * ho * wo;
    if (bias) out.fill(bias[o], plane, plane + ho * wo);
    for (let ky = 0; ky < k; ky++) {
      for (let kx = 0; kx < k; kx++) {
        const row = ((o * k + ky) * k + kx) * P;
        const ixFrom = Math.max(0, Math.ceil((pad - kx) / stride));
        const ixTo = Math.min(x.w - 1, Math.floor((wo - 1 + pad - kx) / stride));
        for (let iy = 0; iy < x.h; iy++) {
          const oy = iy * stride - pad + ky;
          if (oy < 0 || oy >= ho) continue;
          const dst = plane + oy * wo - pad + kx;
          const src = row + iy * x.w;
          for (let ix = ixFrom; ix <= ixTo; ix++) out[dst + ix * stride] += patches[src + ix];
        }
      }
    }
  }
  return { c: outC, h: ho, w: wo, d: out };
}

/** ReflectionPad2d: mirror without repeating the edge pixel. */
function reflectPad(x: Map3, p: number): Map3 {
  if (p >= x.h || p >= x.w) throw new Error(`reference: reflection pad ${p} needs a side larger than ${p}`);
  const h = x.h + 2 * p;
  const w = x.w + 2 * p;
  const out = new Float64Array(x.c * h * w);
  const reflect = (i: number, n: number): number => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  for (let c = 0; c < x.c; c++)
    for (let y = 0; y < h; y++) {
      const sy = reflect(y - p, x.h);
      for (let xx = 0; xx < w; xx++) out[(c * h + y) * w + xx] = x.d[(c * x.h + sy) * x.w + reflect(xx - p, x.w)];
    }
  return { c: x.c, h, w, d: out };
}

/** InstanceNorm2d(affine=False): per channel over H×W, biased variance. */
function instanceNorm(x: Map3, eps: number): Map3 {
  const n = x.h * x.w;
  const d = new Float64Array(x.d.length);
  for (let c = 0; c < x.c; c++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x.d[c * n + i];
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x.d[c * n + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) d[c * n + i] = (x.d[c * n + i] - mean) * inv;
  }
  return { ...x, d };
}

/** BatchNorm2d in eval(): running statistics, affine. */
function batchNormEval(
  x: Map3,
  gamma: Float32Array,
  beta: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
): Map3 {
  const n = x.h * x.w;
  const d = new Float64Array(x.d.length);
  for (let c = 0; c < x.c; c++) {
    const scale = gamma[c] / Math.sqrt(variance[c] + eps);
    for (let i = 0; i < n; i++) d[c * n + i] = (x.d[c * n + i] - mean[c]) * scale + beta[c];
  }
  return { ...x, d };
}
