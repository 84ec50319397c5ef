/**
 * Comparing training-model states (train/model/modelState.ts) across engines, devices and resumes:
 * bit for bit, or within a tolerance that knows where Adam amplifies rounding noise.
 */
import { discriminatorSpec, generatorSpec } from '../../core/arch/spec';
import { discriminatorOptions, generatorOptions, NET_NAMES, type NetName } from '../../train/model/cycleGan';
import type { ImageBatch, ModelState } from '../../train/model/modelState';
import { LOSS_NAMES, type Losses, type VisualName } from '../../train/model/trainingModel';
import type { TrainOptions } from '../../train/trainOptions';
import { scaledMaxError } from './compare';
import { biasesBeforeInstanceNorm } from './zeroGradients';

export function sameBits(x: Float32Array, y: Float32Array): boolean {
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  return a.length === b.length && a.every((word, i) => word === b[i]);
}

/** Every part of two states that differs in any bit (empty: the same state). */
export function stateDifferences(x: ModelState, y: ModelState): string[] {
  const out: string[] = [];
  for (const net of NET_NAMES)
    for (const [key, t] of x.nets[net]) {
      const u = y.nets[net].get(key);
      if (!u || !sameBits(t.data, u.data) || `${t.shape}` !== `${u.shape}`) out.push(`${net}.${key}`);
    }
  for (const which of ['G', 'D'] as const) {
    const [a, b] = [x.adam![which], y.adam![which]];
    if (a.step !== b.step) out.push(`adam.${which}.step`);
    for (const part of ['m', 'v'] as const)
      for (const [key, v] of a[part]) if (!sameBits(v, b[part].get(key)!)) out.push(`adam.${which}.${part}.${key}`);
  }
  for (const p of ['A', 'B'] as const) {
    const [a, b] = [x.pools[p].images, y.pools[p].images];
    if (a.length !== b.length || a.some((t, i) => !sameBits(t.data, b[i].data) || `${t.shape}` !== `${b[i].shape}`))
      out.push(`pool ${p}`);
    if (`${x.poolRng[p]}` !== `${y.poolRng[p]}`) out.push(`poolRng ${p}`);
  }
  if (x.dropoutCounter !== y.dropoutCounter) out.push('dropoutCounter');
  if (x.lr !== y.lr) out.push('lr');
  return out;
}

/** Parameters whose true gradient is zero (biases before instance norm), per network. */
export const zeroGradient = (o: TrainOptions): Record<NetName, Set<string>> => ({
  G_A: biasesBeforeInstanceNorm(generatorSpec(generatorOptions(o, 'AtoB'))),
  G_B: biasesBeforeInstanceNorm(generatorSpec(generatorOptions(o, 'BtoA'))),
  D_A: biasesBeforeInstanceNorm(discriminatorSpec(discriminatorOptions(o, 'B'))),
  D_B: biasesBeforeInstanceNorm(discriminatorSpec(discriminatorOptions(o, 'A'))),
});

/**
 * The largest |update| / lr of Adam's step t, whatever the gradients: m̂ and v̂ are weighted means of
 * g and g² (weights w and u), and |Σ w·g| ≤ √(Σ w²/u) · √(Σ u·g²) (Cauchy–Schwarz).
 */
export function adamStepBound(t: number, beta1: number, beta2: number): number {
  let sum = 0;
  for (let i = 1; i <= t; i++) {
    const w = ((1 - beta1) * beta1 ** (t - i)) / (1 - beta1 ** t);
    const u = ((1 - beta2) * beta2 ** (t - i)) / (1 - beta2 ** t);
    sum += (w * w) / u;
  }
  return Math.sqrt(sum);
}

export interface StepResult {
  losses: Losses;
  state: ModelState;
  visuals: Record<VisualName, ImageBatch>;
}

/**
 * Two runs of the same iterations agree within `tol` (scaled): losses, images, weights, moments,
 * pools, steps. A zero-gradient parameter may move by Adam's largest step either way instead.
 */
export function expectStatesAlike(where: string, o: TrainOptions, t: StepResult, x: StepResult, tol: number): void {
  const zero = zeroGradient(o);
  const [lt, lo, st, so, vt, vo] = [t.losses, x.losses, t.state, x.state, t.visuals, x.visuals];
  for (const k of LOSS_NAMES)
    expect([where, k, Math.abs(lo[k] - lt[k]) / Math.max(1, Math.abs(lt[k])) <= tol]).toEqual([where, k, true]);
  for (const k of ['fake_A', 'fake_B', 'rec_A', 'rec_B'] as const)
    expect([where, k, scaledMaxError(vo[k].data, vt[k].data) <= tol]).toEqual([where, k, true]);
  let worst = { key: '', err: 0 };
  for (const net of NET_NAMES)
    for (const [key, p] of st.nets[net]) {
      // A zero true gradient leaves Adam normalising rounding noise: each engine moves such a bias
      // by up to its largest step, in a direction no reference predicts.
      const bound = zero[net].has(key) ? 2 * adamStepBound(st.adam!.G.step, o.beta1, 0.999) * o.lr * 1.001 : tol;
      const err = scaledMaxError(so.nets[net].get(key)!.data, p.data) / bound;
      if (err > worst.err) worst = { key: `${net}.${key}`, err };
    }
  for (const which of ['G', 'D'] as const)
    for (const part of ['m', 'v'] as const)
      for (const [key, v] of st.adam![which][part]) {
        const err = scaledMaxError(so.adam![which][part].get(key)!, v) / tol;
        if (err > worst.err) worst = { key: `adam.${which}.${part}.${key}`, err };
      }
  expect([where, worst.key, `${(worst.err * tol).toExponential(2)} (scaled)`, worst.err <= 1]).toEqual([
    where,
    worst.key,
    `${(worst.err * tol).toExponential(2)} (scaled)`,
    true,
  ]);
  expect([so.adam!.G.step, so.adam!.D.step]).toEqual([st.adam!.G.step, st.adam!.D.step]);
  expect(so.poolRng).toEqual(st.poolRng);
  for (const p of ['A', 'B'] as const) {
    expect(so.pools[p].images.map((i) => i.shape)).toEqual(st.pools[p].images.map((i) => i.shape));
    so.pools[p].images.forEach((i, n) =>
      expect(scaledMaxError(i.data, st.pools[p].images[n].data)).toBeLessThanOrEqual(tol),
    );
  }
}
