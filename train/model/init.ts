/**
 * Weight initialisation as the official `init_weights`: conv and transposed-conv weights drawn by
 * `init_type` with `init_gain`, biases zero, BatchNorm weight N(1, gain) and bias zero, running
 * stats 0 / 1. Produces a PyTorch-layout state_dict so fan-in/fan-out follow PyTorch's rules.
 */
import type { NetworkSpec, ParamSpec, InitKind } from '../../core/arch/spec';
import { paramSpecs } from '../../core/arch/spec';
import type { StateDict } from '../../core/arch/stateDict';
import { numel } from '../../core/arch/stateDict';

/** Source of standard normal samples (core/rng.ts's Rng satisfies it). */
export interface NormalSource {
  normal(): number;
}

export function initStateDict(spec: NetworkSpec, type: InitKind, gain: number, rng: NormalSource): StateDict {
  const sd: StateDict = new Map();
  for (const p of paramSpecs(spec)) sd.set(p.key, { shape: [...p.shape], data: initParam(p, type, gain, rng) });
  return sd;
}

function initParam(p: ParamSpec, type: InitKind, gain: number, rng: NormalSource): Float32Array {
  const n = numel(p.shape);
  const out = new Float32Array(n);
  switch (p.role) {
    case 'bias':
    case 'bnBias':
    case 'bnMean':
      return out;
    case 'bnVar':
      return out.fill(1);
    case 'bnWeight':
      for (let i = 0; i < n; i++) out[i] = 1 + gain * rng.normal();
      return out;
    case 'convWeight':
    case 'convTransposeWeight':
      return initKernel(p.shape, type, gain, rng);
  }
}

/** PyTorch's fan computation: fan_in = size(1)·receptive field, fan_out = size(0)·receptive field. */
function fans(shape: number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

function initKernel(shape: number[], type: InitKind, gain: number, rng: NormalSource): Float32Array {
  const n = numel(shape);
  const out = new Float32Array(n);
  const { fanIn, fanOut } = fans(shape);
  let std: number;
  switch (type) {
    case 'normal':
      std = gain;
      break;
    case 'xavier':
      std = gain * Math.sqrt(2 / (fanIn + fanOut));
      break;
    case 'kaiming':
      // kaiming_normal_(a=0, mode='fan_in'): gain sqrt(2) for ReLU.
      std = Math.sqrt(2) / Math.sqrt(fanIn);
      break;
    case 'orthogonal':
      return orthogonal(shape[0], n / shape[0], gain, rng);
  }
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

/**
 * orthogonal_: a (rows × cols) matrix with orthonormal rows (or columns, whichever are fewer),
 * from the QR decomposition of a Gaussian matrix, scaled by gain. Modified Gram–Schmidt on the
 * shorter side is numerically adequate at these sizes.
 */
function orthogonal(rows: number, cols: number, gain: number, rng: NormalSource): Float32Array {
  const transpose = rows < cols;
  const r = transpose ? cols : rows; // long side
  const c = transpose ? rows : cols; // short side: number of orthonormal vectors
  const q: Float64Array[] = [];
  for (let j = 0; j < c; j++) {
    const v = new Float64Array(r);
    for (let i = 0; i < r; i++) v[i] = rng.normal();
    for (const u of q) {
      let dot = 0;
      for (let i = 0; i < r; i++) dot += u[i] * v[i];
      for (let i = 0; i < r; i++) v[i] -= dot * u[i];
    }
    let norm = 0;
    for (let i = 0; i < r; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < r; i++) v[i] /= norm;
    q.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      out[i * cols + j] = gain * (transpose ? q[i][j] : q[j][i]);
    }
  }
  return out;
}
