/**
 * PyTorch Conv2d(stride, padding=pad) on NHWC with an HWIO filter, without bias.
 *
 * Symmetric explicit zero padding, then a 'valid' strided conv: output side floor((H + 2·pad - k)/stride) + 1.
 * (tfjs 'same' pads asymmetrically — extra row at the bottom/right — so with stride 2 it would sample a
 * grid shifted by one pixel relative to PyTorch.)
 *
 * On wasm/cpu it runs as a registered kernel (core/tf/convKernels.ts) whose dx and dw, each computed only
 * when backprop needs it, use only forward convs, matMuls and data movement (core/tf/convAdjoint.ts); the
 * native TensorFlow backend keeps tfjs's own gradient kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { usesFastGradients } from './backend';
import { explicitPad } from './convAdjoint';
import { convKernel } from './convKernels';

export function checkConvArgs(op: string, x: tf.Tensor, w: tf.Tensor, inC: number, stride: number, pad: number) {
  if (x.rank !== 4) throw new Error(`${op}: input must be NHWC rank 4, got shape [${x.shape}]`);
  if (w.rank !== 4 || w.shape[0] !== w.shape[1]) throw new Error(`${op}: filter must be [k,k,·,·], got [${w.shape}]`);
  if (x.shape[3] !== inC) throw new Error(`${op}: input has ${x.shape[3]} channels but the filter expects ${inC}`);
  if (!Number.isInteger(stride) || stride < 1)
    throw new Error(`${op}: stride must be a positive integer, got ${stride}`);
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`${op}: pad must be a non-negative integer, got ${pad}`);
}

export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: number): tf.Tensor4D {
  checkConvArgs('conv2d', x, w, w.shape[2], stride, pad);
  const k = w.shape[0];
  const [, h, wd] = x.shape;
  if (h + 2 * pad < k || wd + 2 * pad < k) {
    throw new Error(`conv2d: input ${h}x${wd} with pad ${pad} is smaller than the ${k}x${k} kernel`);
  }
  const padding = explicitPad(pad);
  if (!usesFastGradients()) return tf.conv2d(x, w, stride, padding);
  return convKernel(x, w, stride, pad);
}
