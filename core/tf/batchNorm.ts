/**
 * PyTorch BatchNorm2d(affine=True, track_running_stats=True) on NHWC.
 *
 * Training: normalise with the batch mean and BIASED variance over N×H×W, and return new running stats
 *   running = (1 - momentum)·running + momentum·batch, using the UNBIASED variance for running_var
 * (PyTorch's rule). Eval: normalise with the running stats. The training gradient is a closed-form
 * customGrad for x, gamma and beta. The returned running stats are new tensors, not on the gradient path;
 * the caller keeps them (e.g. assigns them to its state variables) and disposes the old ones.
 */
import * as tf from '@tensorflow/tfjs';

export interface BatchNormResult {
  y: tf.Tensor4D;
  /** Updated running mean/var; present only in training mode. */
  runningMean?: tf.Tensor1D;
  runningVar?: tf.Tensor1D;
}

export interface BatchNormOptions {
  training: boolean;
  /** PyTorch momentum (weight of the new batch statistic), 0.1 by default there. */
  momentum: number;
  eps: number;
}

export function batchNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  runningMean: tf.Tensor,
  runningVar: tf.Tensor,
  { training, momentum, eps }: BatchNormOptions,
): BatchNormResult {
  if (x.rank !== 4) throw new Error(`batchNorm: input must be NHWC rank 4, got shape [${x.shape}]`);
  const c = x.shape[3];
  for (const [name, t] of [
    ['gamma', gamma],
    ['beta', beta],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== c)
      throw new Error(`batchNorm: ${name} must have shape [${c}], got [${t.shape}]`);
  }
  if (!training) {
    const y = tf.tidy(() => {
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(runningVar, eps)));
      return tf.add(tf.mul(tf.sub(x, runningMean), scale), beta) as tf.Tensor4D;
    });
    return { y };
  }
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  if (count < 2)
    throw new Error(`batchNorm: expected more than 1 value per channel when training, got input [${x.shape}]`);
  // Filled by the forward pass below; read afterwards for the running-stat update.
  const batch: { mean?: tf.Tensor; variance?: tf.Tensor } = {};
  const op = tf.customGrad((xIn, gIn, bIn, save) => {
    const xt = xIn as tf.Tensor4D;
    const g = gIn as tf.Tensor;
    const [xhat, rstd, mean, variance] = tf.tidy(() => {
      const m = tf.moments(xt, [0, 1, 2]);
      const r = tf.rsqrt(tf.add(m.variance, eps));
      return [tf.mul(tf.sub(xt, m.mean), r), r, m.mean, m.variance];
    });
    // customGrad tidies its forward function: keep the statistics alive for the update below.
    batch.mean = tf.keep(mean);
    batch.variance = tf.keep(variance);
    (save as tf.GradSaveFunc)([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), bIn as tf.Tensor) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [xh, rs, gs] = saved;
        return tf.tidy(() => {
          const dbeta = tf.sum(dy, [0, 1, 2]);
          const dgamma = tf.sum(tf.mul(dy, xh), [0, 1, 2]);
          // dx = γ·rstd·(dy - mean(dy) - x̂·mean(dy·x̂))
          const inner = tf.sub(tf.sub(dy, tf.div(dbeta, count)), tf.mul(xh, tf.div(dgamma, count)));
          return [tf.mul(inner, tf.mul(gs, rs)), dgamma, dbeta];
        });
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor4D;
  const { mean, variance } = batch as Required<typeof batch>;
  const [newMean, newVar] = tf.tidy(() => [
    tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean, momentum)) as tf.Tensor1D,
    tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(variance, (momentum * count) / (count - 1))) as tf.Tensor1D,
  ]);
  tf.dispose([mean, variance]);
  return { y, runningMean: newMean, runningVar: newVar };
}
