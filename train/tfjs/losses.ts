/** The CycleGAN objectives, reduced with a mean like PyTorch's default `reduction='mean'`. */
import * as tf from '@tensorflow/tfjs';
import type { GanMode } from '../model/cycleGan';

/** GANLoss: MSE (LSGAN) or BCE-with-logits (vanilla) against a target of 1 (real) or 0 (fake) per patch. */
export function ganLoss(mode: GanMode, prediction: tf.Tensor, targetIsReal: boolean): tf.Scalar {
  const target = targetIsReal ? 1 : 0;
  if (mode === 'lsgan') return tf.mean(tf.square(tf.sub(prediction, target)));
  // Numerically stable BCE with logits: max(x,0) - x·t + log(1 + exp(-|x|)).
  const x = prediction;
  return tf.mean(tf.add(tf.sub(tf.relu(x), tf.mul(x, target)), tf.log1p(tf.exp(tf.neg(tf.abs(x))))));
}

export function l1Loss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.mean(tf.abs(tf.sub(a, b)));
}
