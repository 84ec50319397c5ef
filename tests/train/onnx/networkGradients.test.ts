/**
 * The backward emitters of train/onnx/networkGradients.ts on their own, against plain float64 loops,
 * across the shapes that pick their different strategies: the conv weight gradient (im2col of the
 * input by a one-hot grouped Conv, or shifted copies of the gradient for narrowing convs), the stride-1
 * input gradient (flipped kernel, or ConvTranspose for widening convs), the narrowing forward conv,
 * and the reflection-pad fold (by product up to 32 wide, by slices beyond, down to the smallest map
 * it accepts). The golden fixtures test whole networks; these pin each path, including ones those
 * networks do not reach.
 */
import { createSession, float32Tensor, type OrtTensor } from '../../../core/onnx/ortRuntime';
import type { Layer } from '../../../core/arch/spec';
import { Rng } from '../../../core/rng';
import { GraphBuilder } from '../../../train/onnx/graphBuilder';
import { applyNetwork, weightGrad } from '../../../train/onnx/networkGradients';

const rng = new Rng(7);
const random = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

async function run(b: GraphBuilder, feeds: Record<string, { data: Float32Array; shape: number[] }>) {
  const session = await createSession(b.build('t'), { intraOpNumThreads: 1 });
  const input: Record<string, OrtTensor> = {};
  for (const [k, v] of Object.entries(feeds)) input[k] = float32Tensor(v.data, v.shape);
  const out = await session.run(input);
  await session.release();
  return out;
}

function maxRelError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let err = 0;
  let scale = 1e-12;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
}

/** Plain correlation with zero padding: y[n,o,y,x] = Σ w[o,c,i,j]·x[n,c,s·y+i−p,s·x+j−p]. */
function convRef(x: Float32Array, xs: number[], w: Float32Array, ws: number[], s: number, p: number) {
  const [n, c, h, wd] = xs;
  const [o, , k] = ws;
  const ho = Math.floor((h + 2 * p - k) / s) + 1;
  const wo = Math.floor((wd + 2 * p - k) / s) + 1;
  const y = new Float64Array(n * o * ho * wo);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++)
      for (let yy = 0; yy < ho; yy++)
        for (let xx = 0; xx < wo; xx++) {
          let acc = 0;
          for (let ic = 0; ic < c; ic++)
            for (let i = 0; i < k; i++)
              for (let j = 0; j < k; j++) {
                const iy = s * yy + i - p;
                const ix = s * xx + j - p;
                if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
                acc += w[((oc * c + ic) * k + i) * k + j] * x[((b * c + ic) * h + iy) * wd + ix];
              }
          y[((b * o + oc) * ho + yy) * wo + xx] = acc;
        }
  return { y, shape: [n, o, ho, wo] };
}

describe('conv gradients', () => {
  // [batch, inC, outC, size, kernel, stride, pad]: which strategy each reaches is in the comment.
  const cases: [number, number, number, number, number, number, number][] = [
    [1, 6, 6, 9, 3, 1, 0], // dW: strided slices (batch 1: no transposes); dx: flipped kernel
    [2, 6, 6, 8, 3, 1, 1], // dW: strided slices (batch 2)
    [1, 5, 7, 11, 4, 2, 1], // stride 2, odd size: output padding in dx
    [1, 3, 8, 10, 7, 1, 0], // widening 7×7: dx through ConvTranspose
    [1, 8, 2, 10, 7, 1, 0], // narrowing 7×7: forward as shifted sums, dW as shifted gradients
    [2, 8, 2, 9, 3, 1, 0], // narrowing at batch 2
  ];
  test.each(cases)('batch %i, %i→%i channels, %i², k%i s%i p%i', async (n, c, o, hw, k, s, p) => {
    const xs = [n, c, hw, hw];
    const ws = [o, c, k, k];
    const x = random(size(xs));
    const w = random(size(ws));
    const ref = convRef(x, xs, w, ws, s, p);
    const dy = random(ref.y.length);
    // y = conv(x); loss = Σ y·dy: dx and dW from the layer's backward.
    const layer: Layer = { op: 'conv', name: 'c', inC: c, outC: o, kernel: k, stride: s, pad: p, bias: false };
    const b = new GraphBuilder();
    const xi = b.input('x', xs);
    const wi = b.input('w', ws);
    let dW = '';
    const net = applyNetwork(
      b,
      { kind: 'generator', inputNc: c, outputNc: o, layers: [layer] },
      xi,
      { param: () => wi, addGrad: (_key, g) => (dW = g) },
      'n',
    );
    b.output(net.y, 'y');
    const dyi = b.input('dy', ref.shape);
    b.output(net.back(dyi, true)!, 'dx');
    b.output(dW, 'dW');
    const out = await run(b, {
      x: { data: x, shape: xs },
      w: { data: w, shape: ws },
      dy: { data: dy, shape: ref.shape },
    });
    expect(out.y.dims).toEqual(ref.shape);
    expect(maxRelError(out.y.data as Float32Array, ref.y)).toBeLessThan(1e-5);
    // dW[o,c,i,j] = Σ dy·x at the tap; dx by the adjoint identity per input element (exact in float64).
    const dwRef = new Float64Array(size(ws));
    const dxRef = new Float64Array(size(xs));
    const [, , ho, wo] = ref.shape;
    for (let bb = 0; bb < n; bb++)
      for (let oc = 0; oc < o; oc++)
        for (let yy = 0; yy < ho; yy++)
          for (let xx = 0; xx < wo; xx++) {
            const g = dy[((bb * o + oc) * ho + yy) * wo + xx];
            for (let ic = 0; ic < c; ic++)
              for (let i = 0; i < k; i++)
                for (let j = 0; j < k; j++) {
                  const iy = s * yy + i - p;
                  const ix = s * xx + j - p;
                  if (iy < 0 || ix < 0 || iy >= hw || ix >= hw) continue;
                  const xi2 = ((bb * c + ic) * hw + iy) * hw + ix;
                  const wi2 = ((oc * c + ic) * k + i) * k + j;
                  dwRef[wi2] += g * x[xi2];
                  dxRef[xi2] += g * w[wi2];
                }
          }
    expect(maxRelError(out.dW.data as Float32Array, dwRef)).toBeLessThan(1e-5);
    expect(maxRelError(out.dx.data as Float32Array, dxRef)).toBeLessThan(1e-5);
  });

  // 7 + 2 padding fits four stride-2 windows exactly; 8 + 2 leaves a column the forward's floor dropped.
  test.each([7, 8])('weightGrad at stride 2 with explicit zero padding on a %i² input matches the loop', async (hw) => {
    const xs = [1, 4, hw, hw];
    const x = random(size(xs));
    const g = random(3 * 4 * 4); // [1, 3, 4, 4]: k 3, stride 2 → 4
    const b = new GraphBuilder();
    const xi = b.input('x', xs);
    const gi = b.input('g', [1, 3, 4, 4]);
    b.output(weightGrad(b, xi, gi, 3, 2, [1, 1], [1, 1], 'w'), 'dW');
    const out = await run(b, { x: { data: x, shape: xs }, g: { data: g, shape: [1, 3, 4, 4] } });
    const ref = new Float64Array(3 * 4 * 9);
    for (let o = 0; o < 3; o++)
      for (let c = 0; c < 4; c++)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            for (let y = 0; y < 4; y++)
              for (let z = 0; z < 4; z++) {
                const iy = 2 * y + i - 1;
                const ix = 2 * z + j - 1;
                if (iy < 0 || ix < 0 || iy >= hw || ix >= hw) continue;
                ref[((o * 4 + c) * 3 + i) * 3 + j] += g[(o * 4 + y) * 4 + z] * x[(c * hw + iy) * hw + ix];
              }
    expect(out.dW.dims).toEqual([3, 4, 3, 3]);
    expect(maxRelError(out.dW.data as Float32Array, ref)).toBeLessThan(1e-5);
  });

  test('weightGrad refuses a gradient whose size the window does not give', () => {
    const b = new GraphBuilder();
    const xi = b.input('x', [1, 4, 7, 7]);
    const gi = b.input('g', [1, 3, 5, 5]);
    expect(() => weightGrad(b, xi, gi, 3, 2, [1, 1], [1, 1], 'w')).toThrow(
      'w: a 3×3 stride-2 window over 9×9 does not give 5×5',
    );
  });
});

describe('reflection pad backward', () => {
  // Down to the smallest map reflection padding accepts (p + 1), and past 32 wide, where the fold
  // switches from a product with a fold matrix to slices.
  test.each([
    [1, 40],
    [3, 37],
    [1, 2],
    [3, 4],
    [1, 4],
    [1, 5],
    [1, 9],
    [3, 8],
    [3, 9],
    [3, 16],
  ])('pad %i on a %i² map: the fold is the adjoint of the pad', async (p, hw) => {
    const xs = [2, 3, hw, hw];
    const b = new GraphBuilder();
    const xi = b.input('x', xs);
    const net = applyNetwork(
      b,
      { kind: 'generator', inputNc: 3, outputNc: 3, layers: [{ op: 'reflectPad', pad: p }] },
      xi,
      { param: () => '' },
      'n',
    );
    const ys = [2, 3, hw + 2 * p, hw + 2 * p];
    const dyi = b.input('dy', ys);
    b.output(net.back(dyi, true)!, 'dx');
    const dy = random(size(ys));
    const out = await run(b, { x: { data: random(size(xs)), shape: xs }, dy: { data: dy, shape: ys } });
    // Reflection index (PyTorch ReflectionPad2d), then scatter-add.
    const src = (t: number) => (t < p ? p - t : t >= hw + p ? 2 * (hw - 1) - (t - p) : t - p);
    const ref = new Float64Array(size(xs));
    const side = hw + 2 * p;
    for (let n = 0; n < 6; n++)
      for (let y = 0; y < side; y++)
        for (let x = 0; x < side; x++) ref[(n * hw + src(y)) * hw + src(x)] += dy[(n * side + y) * side + x];
    expect(maxRelError(out.dx.data as Float32Array, ref)).toBeLessThan(1e-6);
  });

  test('a map no larger than the padding is refused with the reason', () => {
    const b = new GraphBuilder();
    const xi = b.input('x', [1, 1, 3, 3]);
    expect(() =>
      applyNetwork(
        b,
        { kind: 'generator', inputNc: 1, outputNc: 1, layers: [{ op: 'reflectPad', pad: 3 }] },
        xi,
        { param: () => '' },
        'n',
      ),
    ).toThrow(/reflection padding 3 needs a map larger than 3, got 3×3/);
  });
});
