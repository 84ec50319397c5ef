/**
 * Adam on tfjs variables, with the numbers of train/model/adamConfig.ts (PyTorch 1.13's
 * `torch.optim.Adam`); its moments read out as plain arrays for checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import { adamBiasCorrection, type AdamConfig, type AdamMoments } from '../model/adamConfig';

export interface AdamState {
  step: number;
  /** First and second moments by parameter key, in the parameter's own (tfjs) layout. */
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
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
  async moments(): Promise<AdamMoments> {
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

  loadState(s: AdamMoments): void {
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
