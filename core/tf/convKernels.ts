/**
 * conv2d and convTranspose2d as two registered tfjs kernels whose gradients are per input, for the
 * backends that use core/tf's forward-conv gradients (`usesFastGradients`).
 *
 * Why kernels and not tf.customGrad: a customGrad's gradFunc returns every input's gradient at once,
 * so the filter gradient was computed even where nothing reads it — a frozen network (the
 * discriminator in the generator step, official set_requires_grad(D, False)) — and the input gradient
 * of every first layer (whose input is data). A registered kernel's gradient is a map of thunks, and
 * tfjs's backprop only calls the thunks of inputs on a path from the differentiated variables: dx-only
 * and dW-only come for free, decided by the tape rather than by flags threaded through the networks.
 *
 * The forward kernels run ordinary tf ops inside (tfjs does not record ops nested in a kernel), so the
 * same two kernels serve every backend they are registered for (registered lazily, per backend).
 */
import * as tf from '@tensorflow/tfjs';
import { explicitPad, filterGrad, transposedConv } from './convAdjoint';

/** PyTorch Conv2d(stride, padding=pad) on NHWC with an HWIO filter. Inputs x, filter; attrs stride, pad. */
export const CONV2D_KERNEL = 'CycleGanConv2D';
/**
 * PyTorch ConvTranspose2d(stride, padding=pad) with an outH×outW output, filter [k,k,outC,inC].
 * Inputs x, filter; attrs stride, pad, outH, outW.
 */
export const CONV_TRANSPOSE2D_KERNEL = 'CycleGanConvTranspose2D';

interface ConvAttrs {
  stride: number;
  pad: number;
  /** dataId of the filter as passed in: the key of convAdjoint's phase-filter cache. */
  filterKey: object;
}

interface ConvTransposeAttrs extends ConvAttrs {
  outH: number;
  outW: number;
}

let gradientsRegistered = false;

function registerGradients(): void {
  tf.registerGradient({
    kernelName: CONV2D_KERNEL,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, w] = saved as tf.Tensor4D[];
      const { stride, pad, filterKey } = attrs as unknown as ConvAttrs;
      const g = dy as tf.Tensor4D;
      return {
        x: () => transposedConv(g, w, stride, pad, x.shape[1], x.shape[2], filterKey),
        filter: () => filterGrad(x, g, w.shape[0], stride, pad),
      };
    },
  });
  tf.registerGradient({
    kernelName: CONV_TRANSPOSE2D_KERNEL,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, w] = saved as tf.Tensor4D[];
      const { stride, pad } = attrs as unknown as ConvAttrs;
      const g = dy as tf.Tensor4D;
      // ConvTranspose2d is the x-adjoint of Conv2d(outC → inC) with the same HWIO filter: its own
      // adjoints are that conv's forward (dx) and filter gradient with the roles of x and dy swapped.
      return {
        x: () => tf.conv2d(g, w, stride, explicitPad(pad)),
        filter: () => filterGrad(g, x, w.shape[0], stride, pad),
      };
    },
  });
  gradientsRegistered = true;
}

/** Registers both kernels for the active backend (once per backend). */
function ensureKernels(): void {
  if (!gradientsRegistered) registerGradients();
  const backendName = tf.getBackend();
  if (tf.getKernel(CONV2D_KERNEL, backendName)) return;
  tf.registerKernel({
    kernelName: CONV2D_KERNEL,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { stride, pad } = attrs as unknown as ConvAttrs;
      return tf.conv2d(inputs.x as tf.Tensor4D, inputs.filter as tf.Tensor4D, stride, explicitPad(pad));
    },
  });
  tf.registerKernel({
    kernelName: CONV_TRANSPOSE2D_KERNEL,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { stride, pad, outH, outW } = attrs as unknown as ConvTransposeAttrs;
      const [x, w] = [inputs.x as tf.Tensor4D, inputs.filter as tf.Tensor4D];
      return tf.tidy(() => transposedConv(x, w, stride, pad, outH, outW));
    },
  });
}

/** conv2d through CONV2D_KERNEL (arguments checked by the caller). */
export function convKernel(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: number): tf.Tensor4D {
  ensureKernels();
  const attrs = { stride, pad, filterKey: w.dataId } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(CONV2D_KERNEL, { x, filter: w }, attrs) as tf.Tensor4D;
}

/** convTranspose2d through CONV_TRANSPOSE2D_KERNEL (arguments checked by the caller). */
export function convTransposeKernel(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: number,
  outH: number,
  outW: number,
): tf.Tensor4D {
  ensureKernels();
  const attrs = { stride, pad, outH, outW, filterKey: w.dataId } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(CONV_TRANSPOSE2D_KERNEL, { x, filter: w }, attrs) as tf.Tensor4D;
}
