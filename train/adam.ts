/**
 * Adam exactly as PyTorch 1.13's `torch.optim.Adam` (eps added after the bias-corrected sqrt),
 * with state that is plain named tensors so checkpoints keep it: the official repo loses the
 * optimiser moments on resume; this one does not.
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface AdamState {
  step: number;
  /** First and second moments by parameter key, in the parameter's own (tfjs) layout. */
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
}

/** PyTorch's Adam defaults besides lr and β1, which the options set. */
export const ADAM_DEFAULTS = { beta2: 0.999, eps: 1e-8 } as const;

/** PyTorch 1.13's scalars for update `step` (from 1): step size lr / (1 − β1^t) and √(1 − β2^t). */
export function adamBiasCorrection(c: AdamConfig, step: number): { stepSize: number; bc2Sqrt: number } {
  return { stepSize: c.lr / (1 - c.beta1 ** step), bc2Sqrt: Math.sqrt(1 - c.beta2 ** step) };
}

export class Adam {
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    /** Parameters by a stable key (e.g. `G_A.model.1.weight`). */
    private readonly params: Map<string, tf.Variable>,
    public config: AdamConfig,
  ) {
    for (const [key, p] of params) {
      this.m.set(key, tf.variable(tf.zerosLike(p), false));
      this.v.set(key, tf.variable(tf.zerosLike(p), false));
    }
  }

  set lr(value: number) {
    this.config = { ...this.config, lr: value };
  }

  get lr(): number {
    return this.config.lr;
  }

  /** Applies one update; `grads` is keyed like the parameters (missing key = zero gradient skip). */
  apply(grads: Map<string, tf.Tensor>): void {
    this.step++;
    const { beta1, beta2, eps } = this.config;
    const { stepSize, bc2Sqrt } = adamBiasCorrection(this.config, this.step);
    tf.tidy(() => {
      for (const [key, p] of this.params) {
        const g = grads.get(key);
        if (!g) continue;
        const m = this.m.get(key)!;
        const v = this.v.get(key)!;
        const m2 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const v2 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v2), bc2Sqrt), eps);
        m.assign(m2);
        v.assign(v2);
        p.assign(tf.sub(p, tf.mul(tf.div(m2, denom), stepSize)));
      }
    });
  }

  /** Named state for checkpoints (tensors are the live variables: read before further steps). */
  state(): AdamState {
    return { step: this.step, m: new Map(this.m), v: new Map(this.v) };
  }

  /** Step and moments as plain arrays (checkpoints, other threads). */
  async moments(): Promise<{ step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }> {
    const read = async (vars: Map<string, tf.Variable>) => {
      const out = new Map<string, Float32Array>();
      for (const [key, t] of vars) out.set(key, (await t.data()) as Float32Array);
      return out;
    };
    return { step: this.step, m: await read(this.m), v: await read(this.v) };
  }

  /** Back to the initial state: step 0, zero moments. */
  reset(): void {
    this.step = 0;
    tf.tidy(() => {
      for (const t of [...this.m.values(), ...this.v.values()]) t.assign(tf.zerosLike(t));
    });
  }

  loadState(s: { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }): void {
    this.step = s.step;
    for (const [key, buf] of s.m) this.assignFrom(this.m, key, buf, 'first');
    for (const [key, buf] of s.v) this.assignFrom(this.v, key, buf, 'second');
    for (const key of this.params.keys()) {
      if (!s.m.has(key) || !s.v.has(key)) throw new Error(`optimizer state has no moments for '${key}'`);
    }
  }

  private assignFrom(target: Map<string, tf.Variable>, key: string, data: Float32Array, which: string): void {
    const variable = target.get(key);
    if (!variable) throw new Error(`optimizer state has ${which} moment for unknown parameter '${key}'`);
    if (data.length !== variable.size) throw new Error(`optimizer ${which} moment '${key}' has the wrong size`);
    const t = tf.tensor(data, variable.shape);
    variable.assign(t);
    t.dispose();
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
