/**
 * core/tf reflectPad / instanceNorm / batchNorm on the wasm backend (and cpu), plus a check that every
 * kernel the CycleGAN networks, losses and Adam need — forward and gradient — exists on wasm.
 *
 * References: reflectPad against a brute-force index mapping (forward and its exact adjoint);
 * instanceNorm / batchNorm against tfjs autodiff of the plain formula on the cpu backend.
 * Tolerance: max|ours − ref| ≤ 1e-4 · max(1, max|ref|) per tensor (helpers/compare scaledMaxError).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../core/tf/backend';
import { batchNorm } from '../../../core/tf/batchNorm';
import { instanceNorm } from '../../../core/tf/instanceNorm';
import { reflectPad } from '../../../core/tf/reflectPad';
import { scaledMaxError } from '../../helpers/compare';
import { onBackend } from '../../helpers/backends';

const TOL = 1e-4;

function randomArray(size: number, seed: number, scale = 2, offset = 0): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5) * scale + offset;
  }
  return out;
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('reflectPad = PyTorch ReflectionPad2d', () => {
  /** Source index of padded index i for reflection (no edge repeat). */
  const reflect = (i: number, len: number) => (i < 0 ? -i : i >= len ? 2 * len - 2 - i : i);

  function bruteForce(x: Float32Array, [n, h, w, c]: number[], p: number, dy: Float32Array) {
    const hp = h + 2 * p;
    const wp = w + 2 * p;
    const y = new Float32Array(n * hp * wp * c);
    const dx = new Float32Array(x.length);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < hp; i++)
        for (let j = 0; j < wp; j++)
          for (let k = 0; k < c; k++) {
            const src = ((b * h + reflect(i - p, h)) * w + reflect(j - p, w)) * c + k;
            const dst = ((b * hp + i) * wp + j) * c + k;
            y[dst] = x[src];
            dx[src] += dy[dst];
          }
    return { y, dx };
  }

  function ours(
    x: tf.Tensor4D,
    p: number,
    dy: tf.Tensor,
    pad: (t: tf.Tensor4D) => tf.Tensor4D = (t) => reflectPad(t, p),
  ) {
    return tf.tidy(() => {
      const y = pad(x);
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pad(a as tf.Tensor4D), dy)))(x);
      return { y: y.dataSync(), shape: y.shape, dx: dx.dataSync() };
    });
  }

  // [pad, H, W]; batch 2, 3 channels; includes pad = side - 1 (the largest PyTorch allows), where the two
  // folded borders overlap on the same interior rows.
  test.each([
    [1, 5, 6],
    [3, 7, 9],
    [3, 4, 5],
    [2, 3, 8],
    [1, 2, 2],
  ])('pad %i on %ix%i: output and exact gradient, wasm and cpu', async (p, h, w) => {
    const shape = [2, h, w, 3];
    const xData = randomArray(2 * h * w * 3, 17 + p * 10 + h);
    const dyData = randomArray(2 * (h + 2 * p) * (w + 2 * p) * 3, 23 + p + w);
    const ref = bruteForce(xData, shape, p, dyData);
    const x = tf.tensor4d(xData, shape as [number, number, number, number]);
    const dy = tf.tensor(dyData, [2, h + 2 * p, w + 2 * p, 3]);
    for (const backend of ['wasm', 'cpu'] as const) {
      const r = await onBackend(backend, () => ours(x, p, dy));
      expect(r.shape).toEqual([2, h + 2 * p, w + 2 * p, 3]);
      expect(scaledMaxError(r.y, ref.y)).toBeLessThanOrEqual(TOL);
      expect(scaledMaxError(r.dx, ref.dx)).toBeLessThanOrEqual(TOL);
    }
    tf.dispose([x, dy]);
  });

  test("tfjs's own mirrorPad gradient (centre slice only) fails the same check", () => {
    const p = 2;
    const [h, w] = [5, 6];
    const xData = randomArray(2 * h * w * 3, 5);
    const dyData = randomArray(2 * (h + 2 * p) * (w + 2 * p) * 3, 6);
    const ref = bruteForce(xData, [2, h, w, 3], p, dyData);
    const x = tf.tensor4d(xData, [2, h, w, 3]);
    const dy = tf.tensor(dyData, [2, h + 2 * p, w + 2 * p, 3]);
    const builtin = ours(x, p, dy, (t) =>
      tf.mirrorPad(
        t,
        [
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ],
        'reflect',
      ),
    );
    expect(scaledMaxError(builtin.y, ref.y)).toBeLessThanOrEqual(TOL);
    expect(scaledMaxError(builtin.dx, ref.dx)).toBeGreaterThan(0.1);
    tf.dispose([x, dy]);
  });

  test('rejects a pad not smaller than the input side', () => {
    expect(() => reflectPad(tf.zeros([1, 3, 8, 2]) as tf.Tensor4D, 3)).toThrow(/smaller than the input's 3x8/);
  });
});

describe('instanceNorm = PyTorch InstanceNorm2d(affine=False)', () => {
  const plain = (x: tf.Tensor4D, eps: number) => {
    const mean = tf.mean(x, [1, 2], true);
    const variance = tf.mean(tf.square(tf.sub(x, mean)), [1, 2], true);
    return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))) as tf.Tensor4D;
  };

  function evaluate(f: (x: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D, dy: tf.Tensor) {
    return tf.tidy(() => ({
      y: f(x).dataSync(),
      dx: tf
        .grad((a: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D), dy)))(x)
        .dataSync(),
    }));
  }

  test.each([
    [2, 5, 7, 3, 1e-5],
    [1, 4, 4, 6, 1e-5],
    [2, 3, 2, 2, 1e-3],
  ])('[%i,%i,%i,%i] eps %f: output and gradient, wasm and cpu', async (n, h, w, c, eps) => {
    // Per-channel offsets and scales make the statistics differ across planes.
    const x = tf.tensor4d(randomArray(n * h * w * c, 31 + h, 6, 1.5), [n, h, w, c]);
    const dy = tf.tensor(randomArray(n * h * w * c, 37 + w), [n, h, w, c]);
    const ref = await onBackend('cpu', () => evaluate((t) => plain(t, eps), x, dy));
    for (const backend of ['wasm', 'cpu'] as const) {
      const r = await onBackend(backend, () => evaluate((t) => instanceNorm(t, eps), x, dy));
      expect(scaledMaxError(r.y, ref.y)).toBeLessThanOrEqual(TOL);
      expect(scaledMaxError(r.dx, ref.dx)).toBeLessThanOrEqual(TOL);
    }
    // Each (sample, channel) plane comes out with zero mean and (biased) variance 1/(1 + eps/σ²) ≈ 1.
    const y = instanceNorm(x, eps);
    const m = tf.moments(y, [1, 2]);
    expect(Math.max(...(tf.abs(m.mean).dataSync() as Float32Array))).toBeLessThan(1e-5);
    expect(Math.max(...(tf.abs(tf.sub(m.variance, 1)).dataSync() as Float32Array))).toBeLessThan(2e-2);
    tf.dispose([x, dy, y, m.mean, m.variance]);
  });
});

describe('batchNorm = PyTorch BatchNorm2d(affine=True, track_running_stats=True)', () => {
  const [n, h, w, c] = [2, 4, 3, 5];
  const count = n * h * w;
  const mk = () => ({
    x: tf.tensor4d(randomArray(n * h * w * c, 41, 4, 0.7), [n, h, w, c]),
    gamma: tf.tensor1d(randomArray(c, 43, 1, 1)),
    beta: tf.tensor1d(randomArray(c, 47)),
    rm: tf.tensor1d(randomArray(c, 53)),
    rv: tf.tensor1d(randomArray(c, 59, 1, 1)),
    dy: tf.tensor(randomArray(n * h * w * c, 61), [n, h, w, c]),
  });

  test('training: output, dx/dgamma/dbeta and running stats (unbiased running_var), wasm and cpu', async () => {
    const { x, gamma, beta, rm, rv, dy } = mk();
    const plain = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const mean = tf.mean(a, [0, 1, 2]);
      const variance = tf.mean(tf.square(tf.sub(a, mean)), [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const grads = (f: (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() => ({
        y: f(x, gamma, beta).dataSync(),
        g: tf
          .grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), dy)))([x, gamma, beta])
          .map((t) => t.dataSync()),
      }));
    const ref = await onBackend('cpu', () => grads(plain));
    // Running statistics by hand (PyTorch: momentum 0.1 weights the batch; running_var uses n/(n-1)).
    const xs = x.arraySync().flat(2);
    const rmHand = new Float32Array(c);
    const rvHand = new Float32Array(c);
    const rm0 = rm.dataSync();
    const rv0 = rv.dataSync();
    for (let k = 0; k < c; k++) {
      const vals = xs.map((px) => px[k]);
      const mean = vals.reduce((s, v) => s + v, 0) / count;
      const unbiased = vals.reduce((s, v) => s + (v - mean) ** 2, 0) / (count - 1);
      rmHand[k] = 0.9 * rm0[k] + 0.1 * mean;
      rvHand[k] = 0.9 * rv0[k] + 0.1 * unbiased;
    }
    for (const backend of ['wasm', 'cpu'] as const) {
      const r = await onBackend(backend, () => {
        const opts = { training: true, momentum: 0.1, eps: 1e-5 };
        const out = grads((a, g, b) => batchNorm(a as tf.Tensor4D, g, b, rm, rv, opts).y);
        const stats = batchNorm(x, gamma, beta, rm, rv, opts);
        const res = { ...out, rm: stats.runningMean!.dataSync(), rv: stats.runningVar!.dataSync() };
        tf.dispose([stats.y, stats.runningMean!, stats.runningVar!]);
        return res;
      });
      expect(scaledMaxError(r.y, ref.y)).toBeLessThanOrEqual(TOL);
      for (let i = 0; i < 3; i++) expect(scaledMaxError(r.g[i], ref.g[i])).toBeLessThanOrEqual(TOL);
      expect(scaledMaxError(r.rm, rmHand)).toBeLessThanOrEqual(TOL);
      expect(scaledMaxError(r.rv, rvHand)).toBeLessThanOrEqual(TOL);
    }
    tf.dispose([x, gamma, beta, rm, rv, dy]);
  });

  test('eval: normalises with the running statistics and returns no new ones', () => {
    const { x, gamma, beta, rm, rv, dy } = mk();
    const r = batchNorm(x, gamma, beta, rm, rv, { training: false, momentum: 0.1, eps: 1e-5 });
    const expected = tf.tidy(() => tf.add(tf.mul(tf.div(tf.sub(x, rm), tf.sqrt(tf.add(rv, 1e-5))), gamma), beta));
    expect(scaledMaxError(r.y.dataSync(), expected.dataSync())).toBeLessThanOrEqual(TOL);
    expect(r.runningMean).toBeUndefined();
    expect(r.runningVar).toBeUndefined();
    tf.dispose([x, gamma, beta, rm, rv, dy, r.y, expected]);
  });

  test('rejects a single value per channel in training, like PyTorch', () => {
    const z = tf.zeros([1]) as tf.Tensor1D;
    expect(() =>
      batchNorm(tf.zeros([1, 1, 1, 1]) as tf.Tensor4D, z, z, z, z, { training: true, momentum: 0.1, eps: 1e-5 }),
    ).toThrow(/more than 1 value per channel/);
  });
});

describe('wasm kernel coverage for the training graph', () => {
  // Every op the networks, losses (LSGAN/MSE, vanilla BCE-with-logits, L1) and Adam use, each through a
  // tiny tf.grads on wasm: a missing forward or gradient kernel throws "not registered for backend 'wasm'".
  const unary: [string, (t: tf.Tensor) => tf.Tensor][] = [
    ['relu', (t) => tf.relu(t)],
    ['leakyRelu', (t) => tf.leakyRelu(t, 0.2)],
    ['tanh', (t) => tf.tanh(t)],
    ['sigmoid', (t) => tf.sigmoid(t)],
    ['softplus', (t) => tf.softplus(t)],
    ['log', (t) => tf.log(tf.add(tf.abs(t), 1))],
    ['abs', (t) => tf.abs(t)],
    ['square', (t) => tf.square(t)],
    ['squaredDifference', (t) => tf.squaredDifference(t, 0.5)],
    ['mean', (t) => tf.mean(t, [1, 2], true)],
    ['sum', (t) => tf.sum(t)],
    ['sub/mul/div/add', (t) => tf.add(tf.div(tf.mul(tf.sub(t, 1), t), 2), t)],
    [
      'sqrt/rsqrt/exp',
      (t) => tf.add(tf.sqrt(tf.add(tf.square(t), 1)), tf.mul(tf.rsqrt(tf.add(tf.square(t), 1)), tf.exp(t))),
    ],
    ['maximum/minimum', (t) => tf.add(tf.maximum(t, 0), tf.minimum(t, 0.1))],
    ['concat', (t) => tf.concat([t, tf.mul(t, 2)], 3)],
    [
      'slice/pad',
      (t) =>
        tf.pad(tf.slice(t, [0, 1, 1, 0], [1, 2, 2, 2]), [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]),
    ],
    ['reshape/transpose', (t) => tf.transpose(tf.reshape(t, [1, 3, 3, 2]), [3, 2, 1, 0])],
    ['dropout mask', (t) => tf.mul(t, tf.cast(tf.greater(tf.randomUniform(t.shape), 0.5), 'float32'))],
    [
      'mirrorPad forward',
      (t) =>
        tf.mirrorPad(
          t as tf.Tensor4D,
          [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ],
          'reflect',
        ),
    ],
  ];
  test.each(unary)('%s', (_name, f) => {
    const x = tf.tensor4d(randomArray(18, 71), [1, 3, 3, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(f(t)))(x);
    expect(g.shape).toEqual([1, 3, 3, 2]);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, g]);
  });

  test('Adam step', () => {
    const v = tf.variable(tf.tensor1d([0.5, -1, 2]));
    const opt = tf.train.adam(2e-4, 0.5, 0.999);
    opt.minimize(() => tf.sum(tf.square(v)) as tf.Scalar);
    expect(Array.from(v.dataSync()).every(Number.isFinite)).toBe(true);
    opt.dispose();
    v.dispose();
  });
});

describe('no tensor leaks', () => {
  test('forward + gradients of every core/tf op release all intermediates', async () => {
    const { conv2d } = await import('../../../core/tf/conv2d');
    const { convTranspose2d } = await import('../../../core/tf/convTranspose2d');
    const x = tf.tensor4d(randomArray(2 * 6 * 5 * 4, 81), [2, 6, 5, 4]);
    const w = tf.tensor4d(randomArray(3 * 3 * 4 * 4, 83), [3, 3, 4, 4]);
    const g = tf.ones([4]) as tf.Tensor1D;
    const b = tf.zeros([4]) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const net = (a: tf.Tensor, f: tf.Tensor) => {
      let h = reflectPad(a as tf.Tensor4D, 1);
      h = conv2d(h, f as tf.Tensor4D, 2, 0);
      h = instanceNorm(h);
      const bn = batchNorm(h, g, b, g, b, { training: true, momentum: 0.1, eps: 1e-5 });
      tf.dispose([bn.runningMean!, bn.runningVar!]);
      h = convTranspose2d(bn.y, f as tf.Tensor4D, 2, 1, 1);
      return tf.sum(h);
    };
    const { clearConvCaches } = await import('../../../core/tf/convAdjoint');
    for (const backend of ['wasm', 'cpu'] as const) {
      await onBackend(backend, () => {
        const grads = tf.grads(net)([x, w]);
        tf.dispose(grads);
      });
      // What stays is the phase-filter cache of `w` (convAdjoint.ts), by design, and nothing else.
      clearConvCaches();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x, w, g, b]);
  });

  test("the phase-filter cache lets go of a filter's entries once the filter's data is freed", async () => {
    const { conv2d } = await import('../../../core/tf/conv2d');
    const { clearConvCaches } = await import('../../../core/tf/convAdjoint');
    await onBackend('wasm', () => {
      clearConvCaches();
      const x = tf.tensor4d(randomArray(1 * 6 * 6 * 4, 85), [1, 6, 6, 4]);
      const base = tf.memory().numTensors;
      const v = tf.tidy(() => tf.variable(tf.tensor4d(randomArray(3 * 3 * 4 * 4, 87), [3, 3, 4, 4])));
      const step = () => tf.dispose(tf.grads((a: tf.Tensor) => tf.sum(conv2d(a as tf.Tensor4D, v, 2, 1)))([x]));
      step();
      const withCache = tf.memory().numTensors;
      expect(withCache).toBeGreaterThan(base + 1); // the variable and its stride-2 phase filters
      step(); // same weights: served from the cache, nothing new kept
      expect(tf.memory().numTensors).toBe(withCache);
      tf.tidy(() => v.assign(tf.mul(v, 2) as tf.Tensor4D)); // an optimiser step: new data, old entries stale
      step(); // rebuilds for the new value and drops the stale ones
      expect(tf.memory().numTensors).toBe(withCache);
      clearConvCaches();
      expect(tf.memory().numTensors).toBe(base + 1);
      tf.dispose([x, v]);
    });
  });
});
