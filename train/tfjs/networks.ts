/**
 * tfjs networks built by walking the shared architecture description (core/arch/spec.ts).
 * Tensors are NHWC here; parameters are tfjs variables in tfjs layouts (conv HWIO, transposed
 * conv [k,k,out,in]) and convert to and from PyTorch state_dict layout at the boundary.
 */
import * as tf from '@tensorflow/tfjs';
import type { Layer, NetworkSpec, ParamSpec } from '../../core/arch/spec';
import { paramSpecs } from '../../core/arch/spec';
import type { StateDict } from '../../core/arch/stateDict';
import { numel } from '../../core/arch/stateDict';
import { conv2d } from '../../core/tf/conv2d';
import { convTranspose2d } from '../../core/tf/convTranspose2d';
import { reflectPad } from '../../core/tf/reflectPad';
import { instanceNorm } from '../../core/tf/instanceNorm';
import { batchNorm } from '../../core/tf/batchNorm';

/** PyTorch [o,i,kh,kw] / [i,o,kh,kw] → tfjs [kh,kw,i,o] / [kh,kw,o,i]: the same permutation for both. */
const TORCH_TO_TF = [2, 3, 1, 0];
const TF_TO_TORCH = [3, 2, 0, 1];

function isKernel(p: ParamSpec): boolean {
  return p.role === 'convWeight' || p.role === 'convTransposeWeight';
}

let instanceCounter = 0;

export interface ApplyOptions {
  training: boolean;
  /** Seed for dropout masks (only used when the spec has dropout). */
  dropoutSeed?: number;
  /**
   * Parameters are constants for this call (the official set_requires_grad(net, False)): gradients
   * flow to the input only, and no weight gradient is computed.
   */
  frozen?: boolean;
}

export class TfNetwork {
  /** Parameters and buffers by state_dict key, in tfjs layout. */
  readonly params = new Map<string, tf.Variable>();
  readonly paramSpecs: ParamSpec[];

  constructor(
    readonly spec: NetworkSpec,
    readonly label: string,
    initial: StateDict,
  ) {
    this.paramSpecs = paramSpecs(spec);
    // tfjs variable names are global; a per-instance suffix keeps several models in one process apart.
    const suffix = `${label}_${instanceCounter++}`;
    for (const p of this.paramSpecs) {
      const t = initial.get(p.key);
      if (!t) throw new Error(`${label}: missing parameter '${p.key}'`);
      // tidy frees the initial value tensor; the variable keeps its data.
      this.params.set(
        p.key,
        tf.tidy(() => tf.variable(torchToTf(p, t), p.trainable, `${suffix}/${p.key}`)),
      );
    }
  }

  trainableVariables(): tf.Variable[] {
    return this.paramSpecs.filter((p) => p.trainable).map((p) => this.params.get(p.key)!);
  }

  /** Runs the network. Call inside tf.tidy / a gradient function; returns NHWC. */
  apply(x: tf.Tensor4D, opts: ApplyOptions): tf.Tensor4D {
    let seed = opts.dropoutSeed ?? 0;
    const run = (layers: Layer[], h: tf.Tensor4D): tf.Tensor4D => {
      for (const l of layers) {
        switch (l.op) {
          case 'conv': {
            h = conv2d(h, this.param(`${l.name}.weight`), l.stride, l.pad);
            if (l.bias) h = tf.add(h, this.param(`${l.name}.bias`));
            break;
          }
          case 'convTranspose': {
            h = convTranspose2d(h, this.param(`${l.name}.weight`), l.stride, l.pad, l.outputPad);
            if (l.bias) h = tf.add(h, this.param(`${l.name}.bias`));
            break;
          }
          case 'reflectPad':
            h = reflectPad(h, l.pad);
            break;
          case 'instanceNorm':
            h = instanceNorm(h, l.eps);
            break;
          case 'batchNorm':
            h = this.batchNorm(h, l, opts.training);
            break;
          case 'relu':
            h = tf.relu(h);
            break;
          case 'leakyRelu':
            h = tf.leakyRelu(h, l.alpha);
            break;
          case 'tanh':
            h = tf.tanh(h);
            break;
          case 'dropout':
            if (opts.training) h = tf.dropout(h, l.rate, undefined, seed++) as tf.Tensor4D;
            break;
          case 'residual':
            h = tf.add(h, run(l.body, h));
            break;
          case 'skipConcat':
            h = tf.concat([h, run(l.body, h)], 3);
            break;
        }
      }
      return h;
    };
    return run(this.spec.layers, x);
  }

  private batchNorm(h: tf.Tensor4D, l: Extract<Layer, { op: 'batchNorm' }>, training: boolean): tf.Tensor4D {
    const mean = this.params.get(`${l.name}.running_mean`)!;
    const variance = this.params.get(`${l.name}.running_var`)!;
    const r = batchNorm(h, this.param(`${l.name}.weight`), this.param(`${l.name}.bias`), mean, variance, {
      training,
      momentum: l.momentum,
      eps: l.eps,
    });
    if (r.runningMean && r.runningVar) {
      // Buffers update outside autodiff, like PyTorch's in-place running-stat update.
      mean.assign(tf.keep(r.runningMean) as tf.Tensor1D);
      variance.assign(tf.keep(r.runningVar) as tf.Tensor1D);
    }
    return r.y;
  }

  private param<R extends tf.Rank>(key: string): tf.Tensor<R> {
    const v = this.params.get(key);
    if (!v) throw new Error(`${this.label}: no parameter '${key}'`);
    return v as unknown as tf.Tensor<R>;
  }

  /** Parameters and buffers in PyTorch state_dict layout. */
  async toStateDict(): Promise<StateDict> {
    const out: StateDict = new Map();
    for (const p of this.paramSpecs) {
      const v = this.params.get(p.key)!;
      const t = isKernel(p) ? tf.transpose(v, TF_TO_TORCH) : v;
      out.set(p.key, { shape: [...p.shape], data: (await t.data()) as Float32Array });
      if (t !== v) t.dispose();
    }
    return out;
  }

  loadStateDict(sd: StateDict): void {
    for (const p of this.paramSpecs) {
      const t = sd.get(p.key);
      if (!t) throw new Error(`${this.label}: missing parameter '${p.key}'`);
      const value = torchToTf(p, t);
      this.params.get(p.key)!.assign(value);
      value.dispose();
    }
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

function torchToTf(p: ParamSpec, t: { shape: number[]; data: Float32Array }): tf.Tensor {
  if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
    throw new Error(`parameter '${p.key}': expected shape [${p.shape}], got [${t.shape}]`);
  }
  if (t.data.length !== numel(p.shape)) throw new Error(`parameter '${p.key}': wrong number of values`);
  return tf.tidy(() => {
    const x = tf.tensor(t.data, p.shape, 'float32');
    return isKernel(p) ? tf.transpose(x, TORCH_TO_TF) : x;
  });
}
