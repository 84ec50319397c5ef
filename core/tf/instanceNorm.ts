/**
 * PyTorch InstanceNorm2d(affine=False, track_running_stats=False) on NHWC: every (sample, channel) plane is
 * normalised over H×W with its biased variance: y = (x - μ) / sqrt(σ² + eps).
 *
 * Custom gradient (closed form, cheaper than autodiff through tf.moments):
 *   dx = (dy - mean(dy) - y·mean(dy·y)) / sqrt(σ² + eps), means over H×W.
 */
import * as tf from '@tensorflow/tfjs';

export function instanceNorm(x: tf.Tensor4D, eps = 1e-5): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`instanceNorm: input must be NHWC rank 4, got shape [${x.shape}]`);
  const op = tf.customGrad((xIn, save) => {
    const xt = xIn as tf.Tensor4D;
    const [y, rstd] = tf.tidy(() => {
      const { mean, variance } = tf.moments(xt, [1, 2], true);
      const r = tf.rsqrt(tf.add(variance, eps));
      return [tf.mul(tf.sub(xt, mean), r), r];
    });
    (save as tf.GradSaveFunc)([y, rstd]);
    return {
      value: y as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [ys, rs] = saved;
        return tf.tidy(() => {
          const meanDy = tf.mean(dy, [1, 2], true);
          const meanDyY = tf.mean(tf.mul(dy, ys), [1, 2], true);
          return tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(ys, meanDyY)), rs);
        });
      },
    };
  });
  return op(x) as tf.Tensor4D;
}
