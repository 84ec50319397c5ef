/**
 * core/tf conv2d / convTranspose2d against references, on the wasm backend and on cpu (both use the
 * forward-conv gradients of core/tf/convAdjoint.ts), and on WebGPU when an adapter exists.
 *
 * Forward references are loops written from PyTorch's definitions (Conv2d: zero pad then correlate;
 * ConvTranspose2d: scatter x[i]·w into out[i·s - p + kh], output side (H-1)s - 2p + k + op).
 * Gradient references are tfjs's built-in autodiff on the cpu backend of the plain formulation:
 * tf.conv2d on an explicitly padded input, and tf.conv2dTranspose ('valid') followed by cropping.
 *
 * Tolerance: max|ours − ref| ≤ 1e-4 · max(1, max|ref|) per tensor (helpers/compare scaledMaxError).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../core/tf/backend';
import { conv2d } from '../../../core/tf/conv2d';
import { convTranspose2d } from '../../../core/tf/convTranspose2d';
import { phaseFilters } from '../../../core/tf/convAdjoint';
import { scaledMaxError } from '../../helpers/compare';
import { Rng } from '../../../core/rng';
import { describeOnWebGpu, onBackend } from '../../helpers/backends';

const TOL = 1e-4;

function seeded(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next() - 0.5;
}

function randomArray(size: number, seed: number): Float32Array {
  const r = seeded(seed);
  return Float32Array.from({ length: size }, () => 2 * r());
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The names of the kernels `f` runs, in order (tf.profile). */
async function kernelsOf(f: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const profile = await tf.profile(() => f());
  return profile.kernels.map((kk) => kk.name);
}

/** The kernels that d/dx and d/dw of sum(op(x, w)) run. */
function gradientKernels(op: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor, x: tf.Tensor, w: tf.Tensor) {
  return kernelsOf(() =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(op(a as tf.Tensor4D, b as tf.Tensor4D)))([x, w]),
  );
}

/** PyTorch Conv2d forward by definition; x NHWC, w [k,k,ci,co]. */
function convByDefinition(x: Float32Array, xs: number[], w: Float32Array, k: number, co: number, s: number, p: number) {
  const [n, h, wd, ci] = xs;
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const wo = Math.floor((wd + 2 * p - k) / s) + 1;
  const out = new Float32Array(n * ho * wo * co);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let kh = 0; kh < k; kh++)
          for (let kw = 0; kw < k; kw++) {
            const y = i * s + kh - p;
            const xx = j * s + kw - p;
            if (y < 0 || y >= h || xx < 0 || xx >= wd) continue;
            for (let c = 0; c < ci; c++) {
              const v = x[((b * h + y) * wd + xx) * ci + c];
              for (let o = 0; o < co; o++)
                out[((b * ho + i) * wo + j) * co + o] += v * w[((kh * k + kw) * ci + c) * co + o];
            }
          }
  return { data: out, shape: [n, ho, wo, co] };
}

/** PyTorch ConvTranspose2d forward by definition; x NHWC [n,h,w,inC], w [k,k,outC,inC]. */
function convTransposeByDefinition(
  x: Float32Array,
  xs: number[],
  w: Float32Array,
  k: number,
  outC: number,
  s: number,
  p: number,
  op: number,
) {
  const [n, h, wd, inC] = xs;
  const ho = (h - 1) * s - 2 * p + k + op;
  const wo = (wd - 1) * s - 2 * p + k + op;
  const out = new Float32Array(n * ho * wo * outC);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < wd; j++)
        for (let kh = 0; kh < k; kh++)
          for (let kw = 0; kw < k; kw++) {
            const y = i * s - p + kh;
            const xx = j * s - p + kw;
            if (y < 0 || y >= ho || xx < 0 || xx >= wo) continue;
            for (let c = 0; c < inC; c++) {
              const v = x[((b * h + i) * wd + j) * inC + c];
              for (let o = 0; o < outC; o++)
                out[((b * ho + y) * wo + xx) * outC + o] += v * w[((kh * k + kw) * outC + o) * inC + c];
            }
          }
  return { data: out, shape: [n, ho, wo, outC] };
}

interface Result {
  y: Float32Array;
  shape: number[];
  dx: Float32Array;
  dw: Float32Array;
}

type Shape4 = [number, number, number, number];

/**
 * Output and gradients of sum(f(x, w) · dy) for a seeded cotangent dy, on the active backend (x and w
 * made there: moving a tensor off WebGPU would need a synchronous read, which Node does not have).
 */
async function evaluate(
  f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  [xData, xs]: [Float32Array, Shape4],
  [wData, ws]: [Float32Array, Shape4],
  seed: number,
): Promise<Result> {
  const [x, w] = [tf.tensor4d(xData, xs), tf.tensor4d(wData, ws)];
  const [y, dx, dw] = tf.tidy(() => {
    const out = f(x, w);
    const dy = tf.tensor(randomArray(out.size, seed), out.shape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), dy)))([
      x,
      w,
    ]);
    return [out, ...g];
  });
  try {
    const read = async (t: tf.Tensor) => (await t.data()) as Float32Array;
    return { y: await read(y), shape: y.shape, dx: await read(dx), dw: await read(dw) };
  } finally {
    tf.dispose([x, w, y, dx, dw]);
  }
}

function expectMatches(actual: Result, ref: Result) {
  expect(actual.shape).toEqual(ref.shape);
  expect(scaledMaxError(actual.y, ref.y)).toBeLessThanOrEqual(TOL);
  expect(scaledMaxError(actual.dx, ref.dx)).toBeLessThanOrEqual(TOL);
  expect(scaledMaxError(actual.dw, ref.dw)).toBeLessThanOrEqual(TOL);
}

const explicitPad = (p: number): [[number, number], [number, number], [number, number], [number, number]] => [
  [0, 0],
  [p, p],
  [p, p],
  [0, 0],
];

beforeAll(async () => {
  await initBackend('wasm');
});

// [k, stride, pad, H, W, inC, outC]; batch 2. Filter gradient paths (convAdjoint.filterGrad): outC ≤ 8 with
// stride 1 the narrow-output conv; else up to 128 output positions (2·Ho·Wo) one im2col matMul, above that
// the per-tap matMuls (the last three cases).
const CONV_CASES: [number, number, number, number, number, number, number][] = [
  [1, 1, 0, 5, 7, 3, 10],
  [1, 1, 1, 4, 5, 3, 4],
  [1, 2, 0, 6, 5, 4, 10],
  [3, 1, 1, 7, 9, 3, 10],
  [3, 1, 0, 7, 5, 4, 3],
  [3, 2, 1, 9, 8, 3, 10],
  [3, 2, 0, 8, 7, 5, 4],
  [3, 2, 3, 5, 6, 3, 9],
  [4, 2, 1, 9, 10, 3, 10],
  [4, 1, 1, 8, 7, 5, 1],
  [4, 1, 1, 6, 7, 4, 12],
  [7, 1, 3, 9, 11, 3, 10],
  [7, 1, 0, 11, 9, 4, 3],
  [7, 2, 3, 12, 9, 3, 10],
  [3, 1, 1, 10, 9, 3, 10],
  [3, 2, 1, 20, 18, 3, 10],
  [4, 2, 1, 18, 20, 5, 12],
];

/** conv2d on the active backend and on cpu against the reference (tfjs's own gradients on cpu). */
async function checkConv(k: number, s: number, p: number, h: number, w: number, ci: number, co: number) {
  const xs = [2, h, w, ci];
  const xData = randomArray(sizeOf(xs), 1 + k * 100 + s * 10 + p);
  const wData = randomArray(k * k * ci * co, 7 + k + s + p + co);
  const x: [Float32Array, Shape4] = [xData, xs as Shape4];
  const wt: [Float32Array, Shape4] = [wData, [k, k, ci, co]];
  const ref = await onBackend('cpu', () =>
    evaluate((a, b) => tf.conv2d(tf.pad(a, explicitPad(p)), b, s, 'valid'), x, wt, 99),
  );
  const byDef = convByDefinition(xData, xs, wData, k, co, s, p);
  expect(ref.shape).toEqual(byDef.shape);
  expect(scaledMaxError(ref.y, byDef.data)).toBeLessThanOrEqual(TOL);
  expectMatches(await evaluate((a, b) => conv2d(a, b, s, p), x, wt, 99), ref);
  expectMatches(await onBackend('cpu', () => evaluate((a, b) => conv2d(a, b, s, p), x, wt, 99)), ref);
}

describe('conv2d = PyTorch Conv2d(stride, padding)', () => {
  test.each(CONV_CASES)('k%i s%i p%i on %ix%i, %i→%i channels', checkConv);

  test('differs from tfjs "same" padding for stride 2 (shifted sampling grid)', () => {
    const x = tf.tensor4d(randomArray(2 * 8 * 8 * 3, 5), [2, 8, 8, 3]);
    const w = tf.tensor4d(randomArray(3 * 3 * 3 * 4, 6), [3, 3, 3, 4]);
    const ours = conv2d(x, w, 2, 1);
    const same = tf.conv2d(x, w, 2, 'same');
    expect(ours.shape).toEqual(same.shape);
    expect(scaledMaxError(ours.dataSync(), same.dataSync())).toBeGreaterThan(100 * TOL);
    tf.dispose([x, w, ours, same]);
  });

  test('gradients never run Conv2DBackpropInput / Conv2DBackpropFilter on wasm', async () => {
    const x = tf.tensor4d(randomArray(1 * 9 * 9 * 4, 3), [1, 9, 9, 4]);
    const w = tf.tensor4d(randomArray(3 * 3 * 4 * 6, 4), [3, 3, 4, 6]);
    const kernels = new Set(await gradientKernels((a, b) => conv2d(a, b, 2, 1), x, w));
    expect(kernels.has('Conv2D')).toBe(true);
    expect(kernels.has('Conv2DBackpropInput')).toBe(false);
    expect(kernels.has('Conv2DBackpropFilter')).toBe(false);
    tf.dispose([x, w]);
  });

  test('rejects bad arguments with a clear message', () => {
    const x = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    expect(() => conv2d(x, tf.zeros([3, 3, 2, 4]) as tf.Tensor4D, 1, 1)).toThrow(/3 channels but the filter expects 2/);
    expect(() => conv2d(x, tf.zeros([3, 3, 3, 4]) as tf.Tensor4D, 0, 1)).toThrow(/stride/);
    expect(() => conv2d(x, tf.zeros([7, 7, 3, 4]) as tf.Tensor4D, 1, 1)).toThrow(/smaller than the 7x7 kernel/);
  });
});

// [k, stride, pad, outputPad, H, W, inC, outC]
const TRANSPOSE_CASES: [number, number, number, number, number, number, number, number][] = [
  [3, 2, 1, 1, 5, 6, 4, 10],
  [3, 2, 1, 1, 4, 3, 10, 3],
  [4, 2, 1, 0, 5, 4, 4, 10],
  [4, 2, 1, 0, 3, 5, 10, 1],
  [3, 1, 1, 0, 6, 5, 3, 10],
  [3, 2, 0, 0, 4, 5, 3, 4],
  [1, 2, 0, 1, 4, 3, 3, 10],
  [5, 2, 2, 1, 4, 5, 3, 9],
  [4, 2, 0, 1, 3, 4, 5, 10],
];

/** convTranspose2d on the active backend and on cpu against the reference. */
async function checkTranspose(
  k: number,
  s: number,
  p: number,
  op: number,
  h: number,
  w: number,
  inC: number,
  outC: number,
) {
  const xs = [2, h, w, inC];
  const xData = randomArray(sizeOf(xs), 11 + k * 100 + s * 10 + p + op);
  const wData = randomArray(k * k * outC * inC, 13 + k + s + p + outC);
  const x: [Float32Array, Shape4] = [xData, xs as Shape4];
  const wt: [Float32Array, Shape4] = [wData, [k, k, outC, inC]];
  const ho = (h - 1) * s - 2 * p + k + op;
  const wo = (w - 1) * s - 2 * p + k + op;
  const reference = (a: tf.Tensor4D, b: tf.Tensor4D) => {
    const full = tf.conv2dTranspose(a, b, [2, (h - 1) * s + k, (w - 1) * s + k, outC], s, 'valid');
    // Crop `p` in front; at the end crop p - op, or zero-extend when op > p.
    const grown = tf.pad(full, [
      [0, 0],
      [0, Math.max(0, op - p)],
      [0, Math.max(0, op - p)],
      [0, 0],
    ]);
    return tf.slice(grown, [0, p, p, 0], [2, ho, wo, outC]) as tf.Tensor4D;
  };
  const ref = await onBackend('cpu', () => evaluate(reference, x, wt, 98));
  const byDef = convTransposeByDefinition(xData, xs, wData, k, outC, s, p, op);
  expect(ref.shape).toEqual(byDef.shape);
  expect(scaledMaxError(ref.y, byDef.data)).toBeLessThanOrEqual(TOL);
  expectMatches(await evaluate((a, b) => convTranspose2d(a, b, s, p, op), x, wt, 98), ref);
  expectMatches(await onBackend('cpu', () => evaluate((a, b) => convTranspose2d(a, b, s, p, op), x, wt, 98)), ref);
}

describe('convTranspose2d = PyTorch ConvTranspose2d(stride, padding, output_padding)', () => {
  test.each(TRANSPOSE_CASES)('k%i s%i p%i op%i on %ix%i, %i→%i channels', checkTranspose);

  test('forward and gradients never run Conv2DBackpropInput / Conv2DBackpropFilter on wasm', async () => {
    const x = tf.tensor4d(randomArray(1 * 5 * 5 * 6, 3), [1, 5, 5, 6]);
    const w = tf.tensor4d(randomArray(3 * 3 * 4 * 6, 4), [3, 3, 4, 6]);
    const kernels = new Set(await gradientKernels((a, b) => convTranspose2d(a, b, 2, 1, 1), x, w));
    expect(kernels.has('Conv2D')).toBe(true);
    expect(kernels.has('Conv2DBackpropInput')).toBe(false);
    expect(kernels.has('Conv2DBackpropFilter')).toBe(false);
    tf.dispose([x, w]);
  });

  test('rejects an output padding not below the stride', () => {
    const x = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    expect(() => convTranspose2d(x, tf.zeros([3, 3, 2, 3]) as tf.Tensor4D, 2, 1, 2)).toThrow(/outputPad/);
  });
});

test('phase filters cut on the device equal those rearranged on the host', () => {
  for (const [k, s] of [
    [3, 2],
    [4, 2],
    [7, 1],
    [5, 2],
    [1, 2],
  ]) {
    const w = tf.tensor4d(randomArray(k * k * 3 * 5, k + s), [k, k, 3, 5]);
    const host = phaseFilters(w, s, 'host');
    const device = phaseFilters(w, s, 'device');
    for (let ey = 0; ey < s; ey++)
      for (let ex = 0; ex < s; ex++) {
        const [ty, tx] = [Math.ceil((k - ey) / s), Math.ceil((k - ex) / s)];
        if (ty === 0 || tx === 0) continue;
        const a = host(ey, ex, ty, tx);
        const b = device(ey, ex, ty, tx);
        expect(b.shape).toEqual([ty, tx, 5, 3]);
        expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
        tf.dispose([a, b]);
      }
    w.dispose();
  }
});

describeOnWebGpu('on webgpu: forward-conv gradients, phase filters cut on the device', () => {
  test.each(CONV_CASES)('conv2d k%i s%i p%i on %ix%i, %i→%i channels', checkConv);
  test.each(TRANSPOSE_CASES)('convTranspose2d k%i s%i p%i op%i on %ix%i, %i→%i channels', checkTranspose);

  test('gradients run neither Conv2DBackpropFilter nor Conv2DBackpropInput', async () => {
    const x = tf.tensor4d(randomArray(1 * 9 * 9 * 4, 3), [1, 9, 9, 4]);
    const w = tf.tensor4d(randomArray(3 * 3 * 4 * 6, 4), [3, 3, 4, 6]);
    const kernels = new Set(await gradientKernels((a, b) => convTranspose2d(conv2d(a, b, 2, 1), b, 2, 1, 0), x, w));
    expect(kernels.has('Conv2DBackpropInput')).toBe(false);
    expect(kernels.has('Conv2DBackpropFilter')).toBe(false);
    tf.dispose([x, w]);
  });
});

describe('per-input gradients (core/tf/convKernels.ts)', () => {
  // Stride 2, 6 output channels, 4×4 output: dx = 4 phase Conv2Ds, dw = one im2col BatchMatMul.
  const x = () => tf.tensor4d(randomArray(1 * 8 * 8 * 4, 21), [1, 8, 8, 4]);
  const w = () => tf.tensor4d(randomArray(3 * 3 * 4 * 6, 22), [3, 3, 4, 6]);
  const count = (names: string[], k: string) => names.filter((n) => n === k).length;

  test.each([
    ['conv2d', (a: tf.Tensor4D, b: tf.Tensor4D) => conv2d(a, b, 2, 1), 1, 4],
    ['convTranspose2d', (a: tf.Tensor4D, b: tf.Tensor4D) => convTranspose2d(a, b, 2, 1, 1), 4, 1],
  ] as const)(
    '%s: a frozen filter gets no filter gradient, a data input no input gradient',
    async (_, op, fwdConvs, dxConvs) => {
      // convTranspose2d maps 6 → 4 channels with this [3,3,4,6] filter.
      const [a, b] = [x(), w()];
      const xIn = _ === 'convTranspose2d' ? tf.tensor4d(randomArray(1 * 4 * 4 * 6, 23), [1, 4, 4, 6]) : a;
      const loss = (p: tf.Tensor, q: tf.Tensor) => tf.sum(op(p as tf.Tensor4D, q as tf.Tensor4D));
      const onlyX = await kernelsOf(() => [tf.grad((p: tf.Tensor) => loss(p, b))(xIn)]);
      expect(count(onlyX, 'Conv2D')).toBe(fwdConvs + dxConvs);
      expect(count(onlyX, 'BatchMatMul')).toBe(0);
      const onlyW = await kernelsOf(() => [tf.grad((q: tf.Tensor) => loss(xIn, q))(b)]);
      expect(count(onlyW, 'Conv2D')).toBe(fwdConvs);
      expect(count(onlyW, 'BatchMatMul')).toBeGreaterThan(0);
      // Both, and each equal to what the single-input gradient gave.
      const [dx, dw] = tf.grads(loss)([xIn, b]);
      const dxOnly = tf.grad((p: tf.Tensor) => loss(p, b))(xIn);
      const dwOnly = tf.grad((q: tf.Tensor) => loss(xIn, q))(b);
      expect(Array.from(dx.dataSync())).toEqual(Array.from(dxOnly.dataSync()));
      expect(Array.from(dw.dataSync())).toEqual(Array.from(dwOnly.dataSync()));
      tf.dispose([a, b, xIn, dx, dw, dxOnly, dwOnly]);
    },
  );
});
