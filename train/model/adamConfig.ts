/**
 * Adam exactly as PyTorch 1.13's `torch.optim.Adam` (eps added after the bias-corrected sqrt), as
 * numbers both engines use: the tfjs optimiser (train/tfjs/adam.ts) and the onnxruntime step graphs.
 * Its state is plain named arrays so checkpoints keep it: the official repo loses the optimiser
 * moments on resume; this one does not.
 */

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** PyTorch's Adam defaults besides lr and β1, which the options set. */
export const ADAM_DEFAULTS = { beta2: 0.999, eps: 1e-8 } as const;

/** PyTorch 1.13's scalars for update `step` (from 1): step size lr / (1 − β1^t) and √(1 − β2^t). */
export function adamBiasCorrection(c: AdamConfig, step: number): { stepSize: number; bc2Sqrt: number } {
  return { stepSize: c.lr / (1 - c.beta1 ** step), bc2Sqrt: Math.sqrt(1 - c.beta2 ** step) };
}

/** Step count and moments by parameter key (`NET.key`), in the parameter's tfjs layout. */
export interface AdamMoments {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}
