/**
 * PyTorch ConvTranspose2d(stride, padding=pad, output_padding=outputPad) on NHWC, without bias.
 *
 * The filter is in tfjs conv2dTranspose layout [k,k,outC,inC] (PyTorch [inC,outC,k,k] → perm [2,3,1,0]).
 * Output side (H-1)·stride - 2·pad + k + outputPad. ConvTranspose2d is the input-adjoint of the conv
 * Conv2d(outC → inC, k, stride, pad) whose HWIO filter is this same tensor, so:
 *   forward = transposedConv (polyphase forward convs; tf.conv2dTranspose would run wasm's slow
 *             Conv2DBackpropInput), dx = a forward strided conv2d of dy, dw = filterGrad(dy, x).
 * On the native TensorFlow backend tf.conv2dTranspose and its built-in gradients are used.
 */
import * as tf from '@tensorflow/tfjs';
import { usesFastGradients } from './backend';
import { checkConvArgs } from './conv2d';
import { spatialWindow } from './convAdjoint';
import { convTransposeKernel } from './convKernels';

export function convTranspose2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: number,
  outputPad: number,
): tf.Tensor4D {
  checkConvArgs('convTranspose2d', x, w, w.shape[3], stride, pad);
  if (!Number.isInteger(outputPad) || outputPad < 0 || outputPad >= stride) {
    throw new Error(`convTranspose2d: outputPad must be an integer in [0, stride), got ${outputPad}`);
  }
  const [n, h, wd] = x.shape;
  const [k, , outC] = w.shape;
  const outH = (h - 1) * stride - 2 * pad + k + outputPad;
  const outW = (wd - 1) * stride - 2 * pad + k + outputPad;
  if (outH < 1 || outW < 1) throw new Error(`convTranspose2d: output would be ${outH}x${outW}`);
  if (!usesFastGradients()) {
    // Full transposed conv ((H-1)·s + k rows), then drop `pad` rows in front and pad - outputPad at the end.
    const full = tf.conv2dTranspose(x, w, [n, (h - 1) * stride + k, (wd - 1) * stride + k, outC], stride, 'valid');
    return spatialWindow(full, -pad, outputPad - pad, -pad, outputPad - pad);
  }
  return convTransposeKernel(x, w, stride, pad, outH, outW);
}
