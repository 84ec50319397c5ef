/**
 * Forward and reverse-mode backward of a network, emitted as ONNX nodes by walking the shared
 * architecture description (core/arch/spec.ts): the same Layer lists the tfjs networks, the
 * export builder and the float64 reference walk. Each layer's forward returns a closure that,
 * given the gradient of its output, emits the gradient of its input (only when asked: inputs that
 * are images need none) and of its parameters (only when the network is being trained: a frozen
 * discriminator gets none).
 *
 * Backward nodes are the adjoints written as forward operators onnxruntime runs fast (MLAS):
 *  - conv dx: stride 1 → Conv with the flipped, transposed kernel; stride > 1 → ConvTranspose.
 *  - conv dW: one Gemm over an im2col of whichever of input and output gradient is smaller (of the
 *    input: a Conv with one-hot kernels).
 *  - transposed conv dx: Conv with the same kernel; dW: the conv dW with the roles swapped.
 *  - reflection pad, instance norm, ReLU, LeakyReLU, tanh, residual and skip connections: elementwise
 *    nodes and reductions.
 *  - batch norm (training mode): elementwise nodes and reductions over N×H×W; its running
 *    statistics are buffers the binding threads through every call.
 *  - dropout: a product with a multiplier the binding supplies (train/onnx/dropoutMask.ts).
 */
import type { Layer, NetworkSpec } from '../../core/arch/spec';
import type { GraphBuilder } from './graphBuilder';

/** Emits the gradient of a layer's (or network's) input from that of its output; undefined when not needed. */
export type Backward = (dy: string, needDx: boolean) => string | undefined;

/** Where a network call gets its parameters and sends their gradients. */
export interface ParamBinding {
  /** The graph tensor holding parameter `key` (state_dict key). */
  param(key: string): string;
  /** Receives a parameter's gradient; absent for a frozen network (no dW is emitted at all). */
  addGrad?(key: string, grad: string): void;
  /**
   * Receives a buffer's new value (a batch norm's running statistics, updated by every
   * training-mode call, frozen networks' too, as in PyTorch); later `param(key)` calls return it.
   * Absent: the running statistics are not computed.
   */
  setBuffer?(key: string, value: string): void;
  /**
   * The multiplier of this call's next dropout layer (forward order): a tensor of `shape` holding
   * 0 or 1/(1 − rate) per element. Absent: dropout layers are an error.
   */
  dropoutMask?(shape: number[], rate: number): string;
}

/** Applies `spec` to `x` (NCHW); returns the output and its backward. */
export function applyNetwork(
  b: GraphBuilder,
  spec: NetworkSpec,
  x: string,
  params: ParamBinding,
  scope: string,
): { y: string; back: Backward } {
  return sequence(b, spec.layers, x, params, scope);
}

function sequence(
  b: GraphBuilder,
  layers: Layer[],
  x: string,
  p: ParamBinding,
  scope: string,
): { y: string; back: Backward } {
  const backs: Backward[] = [];
  for (const l of layers) {
    const r = layer(b, l, x, p, scope);
    x = r.y;
    backs.push(r.back);
  }
  return {
    y: x,
    back: (dy, needDx) => {
      let d: string | undefined = dy;
      for (let i = backs.length - 1; i >= 0 && d !== undefined; i--) d = backs[i](d, i > 0 || needDx);
      return d;
    },
  };
}

function layer(b: GraphBuilder, l: Layer, x: string, p: ParamBinding, scope: string): { y: string; back: Backward } {
  switch (l.op) {
    case 'conv':
      return conv(b, l, x, p, `${scope}/${l.name}`);
    case 'convTranspose':
      return convTranspose(b, l, x, p, `${scope}/${l.name}`);
    case 'reflectPad':
      return reflectPad(b, l.pad, x, `${scope}/ReflectionPad2d`);
    case 'instanceNorm':
      return instanceNorm(b, l.eps, x, `${scope}/${l.name}`);
    case 'relu': {
      const where = `${scope}/ReLU`;
      const y = b.unary('Relu', x, where);
      return {
        y,
        // dy·[y > 0] as a product with the cast mask: onnxruntime's Where runs on one thread.
        back: (dy) => {
          const dw = `${where}/dx`;
          return b.binary('Mul', dy, b.toFloat(positive(b, y, dw), dw), dw);
        },
      };
    }
    case 'leakyRelu': {
      const where = `${scope}/LeakyReLU`;
      const y = b.unary('LeakyRelu', x, where, { alpha: l.alpha });
      return {
        y,
        back: (dy) =>
          b.op('Where', [positive(b, x, where), dy, b.binary('Mul', dy, b.scalar(l.alpha), where)], b.shape(dy), where),
      };
    }
    case 'tanh': {
      const where = `${scope}/Tanh`;
      const y = b.unary('Tanh', x, where);
      // d tanh = 1 − y²
      return {
        y,
        back: (dy) => b.binary('Mul', dy, b.binary('Sub', b.scalar(1), b.binary('Mul', y, y, where), where), where),
      };
    }
    case 'residual': {
      const where = `${scope}/ResnetBlock`;
      const body = sequence(b, l.body, x, p, where);
      const y = b.binary('Add', x, body.y, where);
      return { y, back: (dy) => b.binary('Add', dy, body.back(dy, true)!, `${where}/dx`) };
    }
    case 'skipConcat': {
      const where = `${scope}/UnetSkipConnectionBlock`;
      const body = sequence(b, l.body, x, p, where);
      const [n, cx, h, w] = b.shape(x);
      const cb = b.shape(body.y)[1];
      const y = b.op('Concat', [x, body.y], [n, cx + cb, h, w], where, { axis: 1 });
      return {
        y,
        back: (dy) => {
          const dw = `${where}/dx`;
          const dx = b.op('Slice', [dy, b.ints([0]), b.ints([cx]), b.ints([1])], [n, cx, h, w], dw);
          const dBody = b.op('Slice', [dy, b.ints([cx]), b.ints([cx + cb]), b.ints([1])], [n, cb, h, w], dw);
          return b.binary('Add', dx, body.back(dBody, true)!, dw);
        },
      };
    }
    case 'batchNorm':
      return batchNorm(b, l, x, p, `${scope}/${l.name}`);
    case 'dropout': {
      const where = `${scope}/Dropout`;
      if (!p.dropoutMask) throw new Error(`${where}: no dropout masks given`);
      const mask = p.dropoutMask(b.shape(x), l.rate);
      return { y: b.binary('Mul', x, mask, where), back: (dy) => b.binary('Mul', dy, mask, `${where}/dx`) };
    }
  }
}

/** x > 0 as a bool mask. */
function positive(b: GraphBuilder, x: string, where: string): string {
  return b.op('Greater', [x, b.scalar(0)], b.shape(x), where);
}

type ConvLayer = Extract<Layer, { op: 'conv' }>;
type ConvTransposeLayer = Extract<Layer, { op: 'convTranspose' }>;

function conv(b: GraphBuilder, l: ConvLayer, x: string, p: ParamBinding, where: string): { y: string; back: Backward } {
  const { kernel: k, stride: s, pad } = l;
  const [n, , h, w] = b.shape(x);
  const ho = Math.floor((h + 2 * pad - k) / s) + 1;
  const wo = Math.floor((w + 2 * pad - k) / s) + 1;
  const weight = p.param(`${l.name}.weight`);
  const inputs = [x, weight];
  if (l.bias) inputs.push(p.param(`${l.name}.bias`));
  const attrs = { dilations: [1, 1], group: 1, kernel_shape: [k, k], strides: [s, s] };
  const y =
    s === 1 && pad === 0 && k > 1 && l.outC * 4 <= l.inC
      ? narrowingConv(b, x, weight, l.bias ? inputs[2] : undefined, k, where)
      : b.op('Conv', inputs, [n, l.outC, ho, wo], where, { ...attrs, pads: [pad, pad, pad, pad] });
  return {
    y,
    back: (dy, needDx) => {
      if (p.addGrad) {
        p.addGrad(`${l.name}.weight`, weightGrad(b, x, dy, k, s, [pad, pad], [pad, pad], `${where}/dW`));
        if (l.bias) p.addGrad(`${l.name}.bias`, b.reduceSum(dy, [0, 2, 3], false, `${where}/db`));
      }
      if (!needDx) return undefined;
      const dxWhere = `${where}/dx`;
      if (s === 1 && l.outC <= l.inC) {
        // Correlation with the kernel flipped in space and transposed in channels, padded k−1−pad: its
        // im2col copies dy (outC channels). Widening convs (outC > inC) take the ConvTranspose below,
        // whose column buffer has inC·k² rows instead.
        const flipped = b.memo(`flipped:${weight}`, () => flipKernel(b, weight, dxWhere));
        const q = k - 1 - pad;
        return b.op('Conv', [dy, flipped], b.shape(x), dxWhere, { ...attrs, pads: [q, q, q, q] });
      }
      // Rows and columns the forward's floor dropped come back as output padding.
      const outPad = [h - (s * (ho - 1) + k - 2 * pad), w - (s * (wo - 1) + k - 2 * pad)];
      return b.op('ConvTranspose', [dy, weight], b.shape(x), dxWhere, {
        ...attrs,
        pads: [pad, pad, pad, pad],
        output_padding: outPad,
      });
    },
  };
}

/**
 * [O, C, k, k] → [C, O, k, k] reversed in both spatial axes, the reversal as a product with a k²×k²
 * permutation matrix (exact; a Slice with negative steps takes onnxruntime's slow element path).
 */
function flipKernel(b: GraphBuilder, weight: string, where: string): string {
  const [o, c, k] = b.shape(weight);
  const kk = k * k;
  const reverse = new Float32Array(kk * kk);
  for (let i = 0; i < kk; i++) reverse[i * kk + (kk - 1 - i)] = 1;
  const rows = b.reshape(b.transpose(weight, [1, 0, 2, 3], where), [c * o, kk], where);
  const flipped = b.op('MatMul', [rows, b.floats(`reverse_${kk}`, [kk, kk], reverse)], [c * o, kk], where);
  return b.reshape(flipped, [c, o, k, k], where);
}

/**
 * A stride-1, unpadded conv to few channels (the generator's last 7×7 conv to RGB) as one product
 * of every tap's [O, C] kernel slice with the whole input, z = [k²·O, H·W], then a sum of k²
 * shifted windows of z: Conv's im2col would copy the C-channel input k² times (50 M values for
 * 64 channels at 128²), z holds only k²·O rows.
 */
function narrowingConv(
  b: GraphBuilder,
  x: string,
  weight: string,
  bias: string | undefined,
  k: number,
  where: string,
): string {
  const [n, c, h, w] = b.shape(x);
  const [o] = b.shape(weight);
  const ho = h - k + 1;
  const wo = w - k + 1;
  const taps = b.reshape(b.transpose(weight, [2, 3, 0, 1], where), [k * k * o, c], where);
  const rows = b.reshape(x, [n, c, h * w], where);
  const z = b.reshape(b.op('MatMul', [taps, rows], [n, k * k * o, h * w], where), [n, k * k * o, h, w], where);
  const windows: string[] = [];
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      const t = (i * k + j) * o;
      windows.push(
        b.op(
          'Slice',
          [z, b.ints([t, i, j]), b.ints([t + o, i + ho, j + wo]), b.ints([1, 2, 3])],
          [n, o, ho, wo],
          where,
        ),
      );
    }
  const sum = b.sum(windows, where);
  return bias ? b.binary('Add', sum, b.reshape(bias, [1, o, 1, 1], where), where) : sum;
}

function convTranspose(
  b: GraphBuilder,
  l: ConvTransposeLayer,
  x: string,
  p: ParamBinding,
  where: string,
): { y: string; back: Backward } {
  const { kernel: k, stride: s, pad, outputPad: op } = l;
  const [n, , h, w] = b.shape(x);
  const weight = p.param(`${l.name}.weight`);
  const inputs = [x, weight];
  if (l.bias) inputs.push(p.param(`${l.name}.bias`));
  const attrs = { dilations: [1, 1], group: 1, kernel_shape: [k, k], strides: [s, s] };
  const shape = [n, l.outC, s * (h - 1) + k - 2 * pad + op, s * (w - 1) + k - 2 * pad + op];
  const y = b.op('ConvTranspose', inputs, shape, where, {
    ...attrs,
    pads: [pad, pad, pad, pad],
    output_padding: [op, op],
  });
  // The adjoint is the strided conv with the same kernel; output padding rows need no input padding.
  const end = pad - op;
  if (end < 0) throw new Error(`${where}: output padding ${op} larger than padding ${pad} is not supported`);
  return {
    y,
    back: (dy, needDx) => {
      if (p.addGrad) {
        p.addGrad(`${l.name}.weight`, weightGrad(b, dy, x, k, s, [pad, pad], [end, end], `${where}/dW`));
        if (l.bias) p.addGrad(`${l.name}.bias`, b.reduceSum(dy, [0, 2, 3], false, `${where}/db`));
      }
      if (!needDx) return undefined;
      return b.op('Conv', [dy, weight], b.shape(x), `${where}/dx`, { ...attrs, pads: [pad, pad, end, end] });
    },
  };
}

/**
 * dW[o, c, i, j] = Σ_{n,y,x} g[n, o, y, x] · inPadded[n, c, s·y + i, s·x + j] (zero padding
 * `begin`/`end` per spatial axis), returned as [O, C, k, k]. One Gemm over an im2col of the input
 * or, at stride 1 when the gradient has fewer channels, of the gradient (k² shifted copies of it),
 * so the copy is of the smaller tensor: a 7×7 conv to 3 channels copies the 3-channel gradient 49
 * times rather than its 64-channel input.
 */
export function weightGrad(
  b: GraphBuilder,
  input: string,
  g: string,
  k: number,
  s: number,
  begin: [number, number],
  end: [number, number],
  where: string,
): string {
  const [n, c, h, w] = b.shape(input);
  const [, o, ho, wo] = b.shape(g);
  const hp = h + begin[0] + end[0];
  const wp = w + begin[1] + end[1];
  if (Math.floor((hp - k) / s) + 1 !== ho || Math.floor((wp - k) / s) + 1 !== wo)
    throw new Error(`${where}: a ${k}×${k} stride-${s} window over ${hp}×${wp} does not give ${ho}×${wo}`);
  /** [N, C, H, W] → [C, N·H·W] (N = 1: a reshape, no copy). */
  const channelRows = (t: string): string => {
    const [tn, tc, th, tw] = b.shape(t);
    const tt = tn === 1 ? t : b.transpose(t, [1, 0, 2, 3], where);
    return b.reshape(tt, [tc, tn * th * tw], where);
  };
  if (s === 1 && o < c) {
    let xp = input;
    if (begin.some((v) => v > 0) || end.some((v) => v > 0)) {
      xp = b.op('Pad', [input, b.ints([0, 0, begin[0], begin[1], 0, 0, end[0], end[1]])], [n, c, hp, wp], where, {
        mode: 'constant',
      });
    }
    // Shifted copies of g inside the padded input's frame: rows (i, j, o), columns (n, y, x) of xp.
    const shifted: string[] = [];
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++) {
        const pads = [0, 0, i, j, 0, 0, hp - ho - i, wp - wo - j];
        shifted.push(b.op('Pad', [g, b.ints(pads)], [n, o, hp, wp], where, { mode: 'constant' }));
      }
    const cat = b.op('Concat', shifted, [n, k * k * o, hp, wp], where, { axis: 1 });
    const gg = b.op('Gemm', [channelRows(cat), channelRows(xp)], [k * k * o, c], where, { transB: 1 });
    return b.transpose(b.reshape(gg, [k, k, o, c], where), [2, 3, 0, 1], where);
  }
  // im2col of the input, rows (c, i, j), as a Conv with one-hot kernels grouped by channel: Conv runs
  // on every thread and pads for free, where k² Slices and a Concat copied twice on one thread.
  const cols = b.op('Conv', [input, oneHotTaps(b, c, k)], [n, c * k * k, ho, wo], where, {
    dilations: [1, 1],
    group: c,
    kernel_shape: [k, k],
    pads: [begin[0], begin[1], end[0], end[1]],
    strides: [s, s],
  });
  // dWᵀ = cols · gᵀ: the Gemm packs the small gradient, not the k²-times larger columns.
  const gwT = b.op('Gemm', [channelRows(cols), channelRows(g)], [c * k * k, o], where, { transB: 1 });
  return b.reshape(b.transpose(gwT, [1, 0], where), [o, c, k, k], where);
}

/**
 * The kernel [C·k², 1, k, k] of a Conv with `group` C whose output channel c·k² + t is tap t of
 * input channel c: 1 at tap t, 0 elsewhere, so each output is exactly its input value (1·x + 0s).
 */
function oneHotTaps(b: GraphBuilder, c: number, k: number): string {
  const kk = k * k;
  const values = new Float32Array(c * kk * kk);
  for (let ch = 0; ch < c; ch++) for (let t = 0; t < kk; t++) values[(ch * kk + t) * kk + t] = 1;
  return b.floats(`one_hot_taps_${c}_${k}`, [c * kk, 1, k, k], values);
}

/** Widest axis folded by a product; wider ones use slices (a product's cost grows with the width squared). */
const FOLD_BY_PRODUCT_MAX = 32;

/**
 * ReflectionPad2d(p). Its backward folds the mirrored borders back onto the rows and columns they
 * copy. Up to FOLD_BY_PRODUCT_MAX wide, an axis folds as a product with a fold matrix F
 * [size + 2p, size] (one 1 per row: padded index → source index), which onnxruntime runs on every
 * thread; wider, as five slices of dy (two corrected by the mirrored strips) concatenated, one pass
 * on one thread.
 */
function reflectPad(b: GraphBuilder, p: number, x: string, where: string): { y: string; back: Backward } {
  const [n, c, h, w] = b.shape(x);
  if (Math.min(h, w) <= p)
    throw new Error(`${where}: reflection padding ${p} needs a map larger than ${p}, got ${h}×${w}`);
  const y = b.op('Pad', [x, b.ints([0, 0, p, p, 0, 0, p, p])], [n, c, h + 2 * p, w + 2 * p], where, {
    mode: 'reflect',
  });
  const dxWhere = `${where}/dx`;
  /** Source index of padded index t on an axis of `size` (PyTorch's reflection). */
  const source = (t: number, size: number) => (t < p ? p - t : t >= size + p ? 2 * (size - 1) - (t - p) : t - p);
  const byProduct = (dy: string, axis: 2 | 3, size: number): string => {
    const m = new Float32Array((size + 2 * p) * size);
    const rows = axis === 3; // dy · F along W; Fᵀ · dy along H
    for (let t = 0; t < size + 2 * p; t++)
      m[rows ? t * size + source(t, size) : source(t, size) * (size + 2 * p) + t] = 1;
    const dims = rows ? [size + 2 * p, size] : [size, size + 2 * p];
    const f = b.floats(`reflect_fold_${p}_${size}_${axis}`, dims, m);
    const out = [...b.shape(dy)];
    out[axis] = size;
    return b.op('MatMul', rows ? [dy, f] : [f, dy], out, dxWhere);
  };
  const bySlices = (dy: string, axis: 2 | 3, size: number): string => {
    const shape = b.shape(dy);
    const part = (start: number, stop: number, step = 1): string => {
      const s = [...shape];
      s[axis] = Math.abs(stop - start);
      return b.op('Slice', [dy, b.ints([start]), b.ints([stop]), b.ints([axis]), b.ints([step])], s, dxWhere);
    };
    // x[j] gets dy[p + j]; x[1 … p] also dy[p − 1 … 0]; x[size − 1 − p … size − 2] also dy[size + 2p − 1 … size + p].
    const head = b.binary('Add', part(p + 1, 2 * p + 1), part(p - 1, -1 - size - 2 * p, -1), dxWhere);
    const tail = b.binary('Add', part(size - 1, size - 1 + p), part(size + 2 * p - 1, size + p - 1, -1), dxWhere);
    const pieces = [part(p, p + 1), head];
    if (size - 1 - p > p + 1) pieces.push(part(2 * p + 1, size - 1));
    pieces.push(tail, part(size + p - 1, size + p));
    const out = [...shape];
    out[axis] = size;
    return b.op('Concat', pieces, out, dxWhere, { axis });
  };
  const fold = (dy: string, axis: 2 | 3, size: number) =>
    size <= FOLD_BY_PRODUCT_MAX || size < 2 * p + 2 ? byProduct(dy, axis, size) : bySlices(dy, axis, size);
  return { y, back: (dy) => fold(fold(dy, 3, w), 2, h) };
}

/**
 * (x − μ)·r over `axes`, with r = 1/√(σ² + eps) (biased variance): the normalisation instance and
 * batch norm share. `back(dy, dyXhat, scale)` is scale·(dy − mean(dy) − x̂·mean(dy·x̂)) from
 * dyXhat = dy·x̂: the input gradient for output dy·γ when scale = r·γ (γ per channel, or 1).
 */
function standardize(b: GraphBuilder, x: string, axes: number[], eps: number, where: string) {
  const mean = b.reduceMean(x, axes, where);
  const centred = b.binary('Sub', x, mean, where);
  const variance = b.reduceMean(b.binary('Mul', centred, centred, where), axes, where);
  const r = b.unary('Reciprocal', b.unary('Sqrt', b.binary('Add', variance, b.scalar(eps), where), where), where);
  const xhat = b.binary('Mul', centred, r, where);
  const dw = `${where}/dx`;
  const back = (dy: string, dyXhat: string, scale: string) => {
    const inner = b.binary(
      'Sub',
      b.binary('Sub', dy, b.reduceMean(dy, axes, dw), dw),
      b.binary('Mul', xhat, b.reduceMean(dyXhat, axes, dw), dw),
      dw,
    );
    return b.binary('Mul', inner, scale, dw);
  };
  return { mean, variance, r, xhat, back };
}

/** InstanceNorm2d without affine parameters: standardised per sample and channel. */
function instanceNorm(b: GraphBuilder, eps: number, x: string, where: string): { y: string; back: Backward } {
  const s = standardize(b, x, [2, 3], eps, where);
  return { y: s.xhat, back: (dy) => s.back(dy, b.binary('Mul', dy, s.xhat, `${where}/dx`), s.r) };
}

type BatchNormLayer = Extract<Layer, { op: 'batchNorm' }>;

/**
 * BatchNorm2d in training mode (PyTorch): standardised over N×H×W, scaled and shifted per
 * channel; the running statistics move by `momentum` towards the batch's mean and unbiased variance.
 */
function batchNorm(b: GraphBuilder, l: BatchNormLayer, x: string, p: ParamBinding, where: string) {
  const [n, c, h, w] = b.shape(x);
  const count = n * h * w;
  if (count < 2)
    throw new Error(`${where}: batch norm needs more than 1 value per channel when training, got ${n}×${h}×${w}`);
  const nhw = [0, 2, 3];
  const s = standardize(b, x, nhw, l.eps, where);
  const perChannel = (t: string) => b.reshape(t, [1, c, 1, 1], where);
  const gamma = perChannel(p.param(`${l.name}.weight`));
  const y = b.binary('Add', b.binary('Mul', s.xhat, gamma, where), perChannel(p.param(`${l.name}.bias`)), where);
  const moved = (key: string, batch: string, scale: number) =>
    p.setBuffer?.(
      key,
      b.binary(
        'Add',
        b.binary('Mul', p.param(key), b.scalar(1 - l.momentum), where),
        b.binary('Mul', b.reshape(batch, [c], where), b.scalar(l.momentum * scale), where),
        where,
      ),
    );
  moved(`${l.name}.running_mean`, s.mean, 1);
  moved(`${l.name}.running_var`, s.variance, count / (count - 1));
  return {
    y,
    back: (dy: string) => {
      const dw = `${where}/dx`;
      const dyXhat = b.binary('Mul', dy, s.xhat, dw);
      if (p.addGrad) {
        p.addGrad(`${l.name}.weight`, b.reduceSum(dyXhat, nhw, false, `${where}/dW`));
        p.addGrad(`${l.name}.bias`, b.reduceSum(dy, nhw, false, `${where}/db`));
      }
      // γ is constant over N×H×W, so dx = r·γ·(dy − mean(dy) − x̂·mean(dy·x̂)).
      return s.back(dy, dyXhat, b.binary('Mul', s.r, gamma, dw));
    },
  };
}
