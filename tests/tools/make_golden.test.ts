/**
 * Sanity of the PyTorch golden fixtures themselves, and of core/arch/spec.ts against them: the
 * spec's state_dict keys, shapes and layer semantics must agree with an independent PyTorch
 * implementation of the official networks. A plain float64 interpreter of the spec's layer lists
 * re-computes every stored forward pass, and central differences confirm the stored gradients.
 */
import { outputShape } from '../../core/arch/flops';
import { discriminatorSpec, generatorSpec, paramSpecs, type Layer, type NetworkSpec } from '../../core/arch/spec';
import { numel, type StateDict } from '../../core/arch/stateDict';
import { listGoldenCases, loadGolden, type GoldenCase } from '../helpers/golden';
import { Rng } from '../../core/rng';

const NET_CASES = [
  'g_resnet_instance',
  'g_resnet_gray',
  'g_resnet_batch',
  'g_resnet_none',
  'g_resnet_nonsquare',
  'g_unet128',
  'g_unet256',
  'd_basic',
  'd_nlayers2_batch',
  'd_nlayers4_none',
  'd_pixel_instance',
  'd_pixel_batch',
];
const ALL_CASES = [...NET_CASES, 'd_basic_256_shape', 'cycle_iteration'];

// ---------------------------------------------------------------------------------------------
// A deliberately naive NCHW float64 interpreter of spec layers (training mode: batch statistics).

interface T {
  n: number;
  c: number;
  h: number;
  w: number;
  d: Float64Array;
}

type Params = (key: string) => Float64Array;

/** Batch statistics seen by each batch-norm layer, for checking the running-stat update. */
type BnStats = Map<string, { mean: number[]; unbiasedVar: number[] }>;

const tensorT = (shape: number[], data: ArrayLike<number>): T => {
  const [n, c, h, w] = shape;
  return { n, c, h, w, d: Float64Array.from(data) };
};

/** Convolution as im2col rows: for every tap, one shifted input plane times each output channel's weight. */
function conv(x: T, l: Extract<Layer, { op: 'conv' }>, p: Params): T {
  const { kernel: k, stride: s, pad } = l;
  const oh = Math.floor((x.h + 2 * pad - k) / s) + 1;
  const ow = Math.floor((x.w + 2 * pad - k) / s) + 1;
  const plane = oh * ow;
  const out = new Float64Array(x.n * l.outC * plane);
  const wt = p(`${l.name}.weight`); // [out, in, k, k]
  const b = l.bias ? p(`${l.name}.bias`) : null;
  const col = new Float64Array(plane);
  for (let n = 0; n < x.n; n++) {
    if (b) for (let o = 0; o < l.outC; o++) out.fill(b[o], (n * l.outC + o) * plane, (n * l.outC + o + 1) * plane);
    for (let i = 0; i < l.inC; i++)
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) {
          col.fill(0); // zero padding
          for (let y = 0; y < oh; y++) {
            const iy = y * s + ky - pad;
            if (iy < 0 || iy >= x.h) continue;
            for (let xx = 0; xx < ow; xx++) {
              const ix = xx * s + kx - pad;
              if (ix >= 0 && ix < x.w) col[y * ow + xx] = x.d[((n * x.c + i) * x.h + iy) * x.w + ix];
            }
          }
          for (let o = 0; o < l.outC; o++) {
            const wv = wt[((o * l.inC + i) * k + ky) * k + kx];
            const ob = (n * l.outC + o) * plane;
            for (let j = 0; j < plane; j++) out[ob + j] += wv * col[j];
          }
        }
  }
  return { n: x.n, c: l.outC, h: oh, w: ow, d: out };
}

/** Transposed convolution: each tap scatters the weighted sum over input channels to its output positions. */
function convTranspose(x: T, l: Extract<Layer, { op: 'convTranspose' }>, p: Params): T {
  const { kernel: k, stride: s, pad } = l;
  const oh = (x.h - 1) * s - 2 * pad + k + l.outputPad;
  const ow = (x.w - 1) * s - 2 * pad + k + l.outputPad;
  const inPlane = x.h * x.w;
  const out = new Float64Array(x.n * l.outC * oh * ow);
  const wt = p(`${l.name}.weight`); // [in, out, k, k]
  const b = l.bias ? p(`${l.name}.bias`) : null;
  const z = new Float64Array(inPlane);
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < l.outC; o++) {
      const ob = (n * l.outC + o) * oh * ow;
      if (b) out.fill(b[o], ob, ob + oh * ow);
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) {
          z.fill(0);
          for (let i = 0; i < l.inC; i++) {
            const wv = wt[((i * l.outC + o) * k + ky) * k + kx];
            const ib = (n * x.c + i) * inPlane;
            for (let j = 0; j < inPlane; j++) z[j] += wv * x.d[ib + j];
          }
          for (let y = 0; y < x.h; y++) {
            const oy = y * s + ky - pad;
            if (oy < 0 || oy >= oh) continue;
            for (let xx = 0; xx < x.w; xx++) {
              const ox = xx * s + kx - pad;
              if (ox >= 0 && ox < ow) out[ob + oy * ow + ox] += z[y * x.w + xx];
            }
          }
        }
    }
  return { n: x.n, c: l.outC, h: oh, w: ow, d: out };
}

function reflectPad(x: T, pad: number): T {
  const h = x.h + 2 * pad;
  const w = x.w + 2 * pad;
  const refl = (j: number, size: number) => (j < 0 ? -j : j >= size ? 2 * (size - 1) - j : j);
  const out = new Float64Array(x.n * x.c * h * w);
  for (let nc = 0; nc < x.n * x.c; nc++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        out[(nc * h + y) * w + xx] = x.d[(nc * x.h + refl(y - pad, x.h)) * x.w + refl(xx - pad, x.w)];
  return { ...x, h, w, d: out };
}

/** Normalises over `groups` of (n, c) planes; instance norm groups by (n, c), batch norm by c. */
function normalize(x: T, eps: number, perSample: boolean, affine?: { g: ArrayLike<number>; b: ArrayLike<number> }) {
  const hw = x.h * x.w;
  const out = new Float64Array(x.d.length);
  const stats = { mean: [] as number[], unbiasedVar: [] as number[] };
  const groups = perSample ? x.n * x.c : x.c;
  for (let g = 0; g < groups; g++) {
    const planes = perSample ? [g] : Array.from({ length: x.n }, (_, n) => n * x.c + g);
    let sum = 0;
    for (const pl of planes) for (let j = 0; j < hw; j++) sum += x.d[pl * hw + j];
    const count = planes.length * hw;
    const mean = sum / count;
    let sq = 0;
    for (const pl of planes) for (let j = 0; j < hw; j++) sq += (x.d[pl * hw + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / count + eps);
    const c = perSample ? g % x.c : g;
    const [scale, shift] = affine ? [affine.g[c], affine.b[c]] : [1, 0];
    for (const pl of planes)
      for (let j = 0; j < hw; j++) out[pl * hw + j] = (x.d[pl * hw + j] - mean) * inv * scale + shift;
    stats.mean.push(mean);
    stats.unbiasedVar.push(sq / (count - 1));
  }
  return { t: { ...x, d: out }, stats };
}

function forward(layers: Layer[], x: T, p: Params, bn?: BnStats): T {
  for (const l of layers) {
    switch (l.op) {
      case 'conv':
        x = conv(x, l, p);
        break;
      case 'convTranspose':
        x = convTranspose(x, l, p);
        break;
      case 'reflectPad':
        x = reflectPad(x, l.pad);
        break;
      case 'instanceNorm':
        x = normalize(x, l.eps, true).t;
        break;
      case 'batchNorm': {
        const r = normalize(x, l.eps, false, { g: p(`${l.name}.weight`), b: p(`${l.name}.bias`) });
        bn?.set(l.name, r.stats);
        x = r.t;
        break;
      }
      case 'relu':
        x = { ...x, d: x.d.map((v) => Math.max(v, 0)) };
        break;
      case 'leakyRelu':
        x = { ...x, d: x.d.map((v) => (v > 0 ? v : l.alpha * v)) };
        break;
      case 'tanh':
        x = { ...x, d: x.d.map(Math.tanh) };
        break;
      case 'dropout':
        throw new Error('the golden fixtures are made without dropout');
      case 'residual': {
        const y = forward(l.body, x, p, bn);
        x = { ...x, d: x.d.map((v, j) => v + y.d[j]) };
        break;
      }
      case 'skipConcat': {
        const y = forward(l.body, x, p, bn);
        const a = x.c * x.h * x.w;
        const b = y.c * y.h * y.w;
        const d = new Float64Array(x.n * (a + b));
        for (let n = 0; n < x.n; n++) {
          d.set(x.d.subarray(n * a, (n + 1) * a), n * (a + b));
          d.set(y.d.subarray(n * b, (n + 1) * b), n * (a + b) + a);
        }
        x = { ...x, c: x.c + y.c, d };
        break;
      }
    }
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Deterministic directions for the finite differences, uniform in [-0.5, 0.5). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next() - 0.5;
}

const shapeOf = (t: T) => [t.n, t.c, t.h, t.w];
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j] - b[j]));
  return m;
};
const mean = (a: ArrayLike<number>, f: (v: number, j: number) => number) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += f(a[j], j);
  return s / a.length;
};

function specFor(g: GoldenCase, which: 'generator' | 'discriminator'): NetworkSpec {
  const { generator, discriminator } = g.config;
  if (which === 'generator') {
    if (!generator) throw new Error(`${g.name}: no generator options`);
    return generatorSpec(generator);
  }
  if (!discriminator) throw new Error(`${g.name}: no discriminator options`);
  return discriminatorSpec(discriminator);
}

/**
 * The fixture's state_dict must be exactly the spec's parameter list (keys in order, PyTorch
 * shapes) plus BatchNorm2d's `num_batches_tracked` counters, which paramSpecs does not list.
 */
function expectStateMatchesSpec(state: StateDict, spec: NetworkSpec): void {
  const specs = paramSpecs(spec);
  const counters = [...state.keys()].filter((k) => k.endsWith('.num_batches_tracked'));
  expect([...state.keys()].filter((k) => !counters.includes(k))).toEqual(specs.map((p) => p.key));
  for (const p of specs) expect([p.key, state.get(p.key)!.shape]).toEqual([p.key, p.shape]);
  const bnLayers = specs.filter((p) => p.role === 'bnMean').map((p) => p.key.replace(/running_mean$/, ''));
  expect(counters).toEqual(bnLayers.map((n) => `${n}num_batches_tracked`));
}

function expectGradsMatchSpec(grads: StateDict, spec: NetworkSpec): void {
  const trainable = paramSpecs(spec).filter((p) => p.trainable);
  expect([...grads.entries()].map(([k, t]) => [k, t.shape])).toEqual(trainable.map((p) => [p.key, p.shape]));
}

const float64States = new WeakMap<StateDict, Map<string, Float64Array>>();

/** Parameter lookup in float64 (one array type keeps the interpreter's loops monomorphic). */
function paramsOf(state: StateDict, override?: Map<string, Float64Array>): Params {
  let wide = float64States.get(state);
  if (!wide) {
    wide = new Map([...state].map(([k, t]) => [k, Float64Array.from(t.data)]));
    float64States.set(state, wide);
  }
  const base = wide;
  return (key) => {
    const t = override?.get(key) ?? base.get(key);
    if (!t) throw new Error(`no tensor '${key}'`);
    return t;
  };
}

/** A loss as a function of the step h along one random direction, and the stored gradient along it. */
interface Probe {
  at(h: number): number;
  /** Stored gradient · direction, and Σ|gradient_i · direction_i| as the scale to judge it by. */
  value: number;
  scale: number;
}

function probe(grads: ArrayLike<number>[], dirs: ArrayLike<number>[], at: (h: number) => number): Probe {
  let value = 0;
  let scale = 0;
  grads.forEach((g, t) => {
    for (let j = 0; j < g.length; j++) {
      value += g[j] * dirs[t][j];
      scale += Math.abs(g[j] * dirs[t][j]);
    }
  });
  return { at, value, scale };
}

const H = 1e-7;

/**
 * Compares a stored gradient with a central difference of the loss along random directions
 * (float64). A stencil straddling a ReLU/L1 kink shows up as disagreeing one-sided differences;
 * such a direction proves nothing either way, so another one is drawn. `magnitude` (Σ of the
 * absolute terms of the loss) sets the rounding-noise floor, which is all that zero gradients
 * (biases right before an instance norm) can be compared against.
 */
function fdMismatch(label: string, l0: number, magnitude: number, draw: () => Probe): string | null {
  const noise = (1e-15 * magnitude) / H;
  for (let attempt = 0; attempt < 4; attempt++) {
    const p = draw();
    const lp = p.at(H);
    const lm = p.at(-H);
    const tol = 1e-5 * p.scale + noise;
    if (Math.abs(lp - 2 * l0 + lm) / H > tol) continue;
    const fd = (lp - lm) / (2 * H);
    return Math.abs(fd - p.value) < tol ? null : `${label}: finite difference ${fd}, stored gradient ${p.value}`;
  }
  return `${label}: every direction tried crossed a kink`;
}

/** x + h * dir, elementwise. */
const step = (x: ArrayLike<number>, dir: ArrayLike<number>, h: number) =>
  Float64Array.from(x, (v, j) => v + h * dir[j]);
const randomLike = (x: ArrayLike<number>, rand: () => number) => Float64Array.from(x, () => rand());

// ---------------------------------------------------------------------------------------------

describe('golden fixtures', () => {
  test('all cases are present', () => {
    expect(listGoldenCases()).toEqual([...ALL_CASES].sort());
  });

  test.each(ALL_CASES)('%s loads with well-formed, finite tensors', (name) => {
    const g = loadGolden(name);
    expect(g.name).toBe(name);
    expect(g.description.length).toBeGreaterThan(0);
    for (const t of g.names()) {
      const { shape, data } = g.tensor(t);
      expect(data.length).toBe(numel(shape));
      expect(data.every(Number.isFinite)).toBe(true);
    }
    expect(() => g.tensor('no/such/tensor')).toThrow(`golden case '${name}' has no tensor 'no/such/tensor'`);
  });

  test('a missing case is a one-line error', () => {
    expect(() => loadGolden('no_such_case')).toThrow(/^golden case 'no_such_case': cannot read .*no_such_case\.json/);
  });

  describe.each(NET_CASES)('%s', (name) => {
    const g = loadGolden(name);
    const which = g.config.kind === 'generator' ? 'generator' : 'discriminator';
    const spec = specFor(g, which);
    const state = g.group('state/');
    const input = g.tensor('input');
    const output = g.tensor('output');

    test('state_dict keys and shapes match paramSpecs, gradients cover exactly the trainable ones', () => {
      expectStateMatchesSpec(state, spec);
      expectGradsMatchSpec(g.group('grad/'), spec);
    });

    test('shapes: output as the spec predicts, R like the output, dInput like the input', () => {
      const [n, c, h, w] = input.shape;
      expect(c).toBe(spec.inputNc);
      const o = outputShape(spec.layers, { c, h, w });
      expect(output.shape).toEqual([n, o.c, o.h, o.w]);
      if (which === 'generator') expect(output.shape).toEqual([n, spec.outputNc, h, w]);
      else expect(o.c).toBe(1);
      expect(g.tensor('R').shape).toEqual(output.shape);
      expect(g.tensor('dInput').shape).toEqual(input.shape);
    });

    test('data are non-trivial: inputs in [-1, 1], outputs spread out, generator outputs not saturated', () => {
      expect(input.data.every((v) => v >= -1 && v <= 1)).toBe(true);
      const m = mean(output.data, (v) => v);
      expect(Math.sqrt(mean(output.data, (v) => (v - m) ** 2))).toBeGreaterThan(0.1);
      if (which === 'generator') expect(mean(output.data, (v) => (Math.abs(v) > 0.99 ? 1 : 0))).toBeLessThan(0.25);
      expect(g.tensor('dInput').data.some((v) => v !== 0)).toBe(true);
    });

    test('a naive float64 interpreter of the spec reproduces the stored output', () => {
      const y = forward(spec.layers, tensorT(input.shape, input.data), paramsOf(state));
      expect(shapeOf(y)).toEqual(output.shape);
      expect(maxAbsDiff(y.d, output.data)).toBeLessThan(1e-5);
    });

    test('dInput and every parameter gradient agree with central differences of sum(output * R)', () => {
      const r = g.tensor('R').data;
      const rand = rng(7);
      const lossAt = (x: ArrayLike<number>, p: Params) => dot(forward(spec.layers, tensorT(input.shape, x), p).d, r);
      const l0 = lossAt(input.data, paramsOf(state));
      const magnitude = output.data.reduce((a, v, j) => a + Math.abs(v * r[j]), 0);
      const bad: string[] = [];

      const dInput = g.tensor('dInput').data;
      const inputMismatch = fdMismatch('dInput', l0, magnitude, () => {
        const dir = randomLike(input.data, rand);
        return probe([dInput], [dir], (h) => lossAt(step(input.data, dir, h), paramsOf(state)));
      });
      if (inputMismatch) bad.push(inputMismatch);
      for (const [key, grad] of g.group('grad/')) {
        const p0 = state.get(key)!.data;
        const mismatch = fdMismatch(key, l0, magnitude, () => {
          const dir = randomLike(p0, rand);
          return probe([grad.data], [dir], (h) =>
            lossAt(input.data, paramsOf(state, new Map([[key, step(p0, dir, h)]]))),
          );
        });
        if (mismatch) bad.push(mismatch);
      }
      expect(bad).toEqual([]);
    });

    test('batch norm: running stats move by momentum 0.1 towards the batch mean and unbiased variance', () => {
      const bn: BnStats = new Map();
      forward(spec.layers, tensorT(input.shape, input.data), paramsOf(state), bn);
      const after = g.group('stateAfter/');
      const bnLayers = paramSpecs(spec).filter((p) => p.role === 'bnMean');
      expect(after.size).toBe(3 * bnLayers.length);
      expect(bn.size).toBe(bnLayers.length);
      for (const [layer, stats] of bn) {
        expect(state.get(`${layer}.num_batches_tracked`)!.data[0]).toBe(0);
        expect(after.get(`${layer}.num_batches_tracked`)!.data[0]).toBe(1);
        const expected = (old: ArrayLike<number>, batch: number[]) => batch.map((v, j) => 0.9 * old[j] + 0.1 * v);
        const m0 = state.get(`${layer}.running_mean`)!.data;
        const v0 = state.get(`${layer}.running_var`)!.data;
        expect(maxAbsDiff(after.get(`${layer}.running_mean`)!.data, expected(m0, stats.mean))).toBeLessThan(1e-6);
        expect(maxAbsDiff(after.get(`${layer}.running_var`)!.data, expected(v0, stats.unbiasedVar))).toBeLessThan(1e-5);
      }
    });
  });

  test('a 70x70 PatchGAN maps a 256x256 input to 30x30, in PyTorch and in the spec', () => {
    const g = loadGolden('d_basic_256_shape');
    expect(g.config.outputShape).toEqual([1, 1, 30, 30]);
    const [n, c, h, w] = g.config.inputShape!;
    const o = outputShape(specFor(g, 'discriminator').layers, { c, h, w });
    expect([n, o.c, o.h, o.w]).toEqual(g.config.outputShape);
  });

  describe('cycle_iteration', () => {
    const g = loadGolden('cycle_iteration');
    const cfg = g.config;
    const gSpec = specFor(g, 'generator');
    const dSpec = specFor(g, 'discriminator');
    const netSpec = (net: string) => (net.startsWith('G') ? gSpec : dSpec);
    const NETS = ['G_A', 'G_B', 'D_A', 'D_B'];
    const states = new Map(NETS.map((n) => [n, g.group(`${n}/state/`)]));
    const img = (name: string) => tensorT(g.tensor(name).shape, g.tensor(name).data);
    const run = (net: string, x: T, override?: Map<string, Float64Array>) =>
      forward(netSpec(net).layers, x, paramsOf(states.get(net)!, override));

    test.each(NETS)('%s state, gradients and Adam state match the spec', (net) => {
      const spec = netSpec(net);
      expectStateMatchesSpec(g.group(`${net}/state/`), spec);
      expectGradsMatchSpec(g.group(`${net}/grad/`), spec);
      expectStateMatchesSpec(g.group(`${net}/adam/`), spec);
    });

    test('images and discriminator outputs are what the networks compute', () => {
      const pairs: [string, string, string][] = [
        ['fake_B', 'G_A', 'real_A'],
        ['rec_A', 'G_B', 'fake_B'],
        ['fake_A', 'G_B', 'real_B'],
        ['rec_B', 'G_A', 'fake_A'],
        ['idt_A', 'G_A', 'real_B'],
        ['idt_B', 'G_B', 'real_A'],
        ['D_A(fake_B)', 'D_A', 'fake_B'],
        ['D_A(real_B)', 'D_A', 'real_B'],
        ['D_B(fake_A)', 'D_B', 'fake_A'],
        ['D_B(real_A)', 'D_B', 'real_A'],
      ];
      const bad: string[] = [];
      for (const [out, net, inp] of pairs) {
        const y = run(net, img(inp));
        expect(shapeOf(y)).toEqual(g.tensor(out).shape);
        // Inputs that are themselves stored outputs carry one float32 rounding, hence the tolerance.
        const err = maxAbsDiff(y.d, g.tensor(out).data);
        if (!(err < 1e-5)) bad.push(`${out} = ${net}(${inp}) is off by ${err}`);
      }
      expect(bad).toEqual([]);
    });

    /** The official LSGAN / L1 losses from stored tensors (network outputs are recomputed where differentiated). */
    const l1 = (a: ArrayLike<number>, b: ArrayLike<number>) => mean(a, (v, j) => Math.abs(v - b[j]));
    const mseTo = (a: ArrayLike<number>, target: number) => mean(a, (v) => (v - target) ** 2);

    test('loss terms follow the official definitions', () => {
      const t = (n: string) => g.tensor(n).data;
      const { lambdaA, lambdaB, lambdaIdentity } = cfg as Required<typeof cfg>;
      const expected: Record<string, number> = {
        loss_G_A: mseTo(t('D_A(fake_B)'), 1),
        loss_G_B: mseTo(t('D_B(fake_A)'), 1),
        loss_cycle_A: l1(t('rec_A'), t('real_A')) * lambdaA,
        loss_cycle_B: l1(t('rec_B'), t('real_B')) * lambdaB,
        loss_idt_A: l1(t('idt_A'), t('real_B')) * lambdaB * lambdaIdentity,
        loss_idt_B: l1(t('idt_B'), t('real_A')) * lambdaA * lambdaIdentity,
        loss_D_A: 0.5 * (mseTo(t('D_A(real_B)'), 1) + mseTo(t('D_A(fake_B)'), 0)),
        loss_D_B: 0.5 * (mseTo(t('D_B(real_A)'), 1) + mseTo(t('D_B(fake_A)'), 0)),
      };
      const terms = ['loss_G_A', 'loss_G_B', 'loss_cycle_A', 'loss_cycle_B', 'loss_idt_A', 'loss_idt_B'];
      expected.loss_G = terms.reduce((a, n) => a + expected[n], 0);
      const bad = Object.entries(expected)
        .filter(([name, v]) => !(Math.abs(g.scalar(name) - v) <= 1e-6 * Math.max(1, Math.abs(v))))
        .map(([name, v]) => `${name}: stored ${g.scalar(name)}, expected ${v}`);
      expect(bad).toEqual([]);
    });

    /** loss_G as a function of the generator weights (discriminators fixed). */
    function lossG(over: { G_A?: Map<string, Float64Array>; G_B?: Map<string, Float64Array> }): number {
      const { lambdaA, lambdaB, lambdaIdentity } = cfg as Required<typeof cfg>;
      const realA = img('real_A');
      const realB = img('real_B');
      const fakeB = run('G_A', realA, over.G_A);
      const recA = run('G_B', fakeB, over.G_B);
      const fakeA = run('G_B', realB, over.G_B);
      const recB = run('G_A', fakeA, over.G_A);
      const idtA = run('G_A', realB, over.G_A);
      const idtB = run('G_B', realA, over.G_B);
      return (
        mseTo(run('D_A', fakeB).d, 1) +
        mseTo(run('D_B', fakeA).d, 1) +
        l1(recA.d, realA.d) * lambdaA +
        l1(recB.d, realB.d) * lambdaB +
        l1(idtA.d, realB.d) * lambdaB * lambdaIdentity +
        l1(idtB.d, realA.d) * lambdaA * lambdaIdentity
      );
    }

    /** Loss along a random direction over all trainable parameters of `net`. */
    function netProbe(net: string, rand: () => number, loss: (over: Map<string, Float64Array>) => number): Probe {
      const state = states.get(net)!;
      const grads = [...g.group(`${net}/grad/`)];
      const dirs = grads.map(([, t]) => randomLike(t.data, rand));
      const at = (h: number) => loss(new Map(grads.map(([k], i) => [k, step(state.get(k)!.data, dirs[i], h)])));
      return probe(
        grads.map(([, t]) => t.data),
        dirs,
        at,
      );
    }

    test.each([
      ['G_A', 11],
      ['G_B', 12],
    ])('loss_G gradient w.r.t. %s agrees with central differences (discriminators frozen)', (net, seed) => {
      const l0 = lossG({});
      expect(l0).toBeCloseTo(g.scalar('loss_G'), 4);
      const rand = rng(seed as number);
      // All loss terms are non-negative, so the loss itself is the magnitude of its terms.
      expect(
        fdMismatch(`loss_G / ${net}`, l0, l0, () => netProbe(net as string, rand, (o) => lossG({ [net]: o }))),
      ).toBe(null);
    });

    test.each([
      ['D_A', 'real_B', 'fake_B', 21],
      ['D_B', 'real_A', 'fake_A', 22],
    ])('loss of %s agrees with central differences, fakes detached', (net, real, fake, seed) => {
      const lossD = (over?: Map<string, Float64Array>) =>
        0.5 * (mseTo(run(net, img(real), over).d, 1) + mseTo(run(net, img(fake), over).d, 0));
      const l0 = lossD();
      expect(l0).toBeCloseTo(g.scalar(`loss_${net}`), 5);
      const rand = rng(seed as number);
      expect(fdMismatch(`loss_${net}`, l0, l0, () => netProbe(net, rand, lossD))).toBe(null);
    });

    test.each(NETS)("%s after one Adam step: p - lr * g / (|g| + eps) (Adam's bias-corrected first step)", (net) => {
      const { lr, eps } = cfg as Required<typeof cfg>;
      const before = g.group(`${net}/state/`);
      const grads = g.group(`${net}/grad/`);
      const bad: string[] = [];
      let moved = 0;
      for (const [key, after] of g.group(`${net}/adam/`)) {
        const p = before.get(key)!.data;
        const grad = grads.get(key)!.data;
        const expected = Float64Array.from(p, (v, j) => v - (lr * grad[j]) / (Math.abs(grad[j]) + eps));
        // float32 storage of p and of the result: about one ulp of values up to ~2.
        const err = maxAbsDiff(after.data, expected);
        if (!(err < 5e-7)) bad.push(`${key} is off by ${err}`);
        moved += after.data.filter((v, j) => Math.abs(v - p[j]) > lr / 2).length;
      }
      expect(bad).toEqual([]);
      expect(moved).toBeGreaterThan(0);
    });
  });
});
