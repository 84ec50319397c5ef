/**
 * The checkpoint's own computation as the verification reference: the tfjs generator the trainer
 * uses (train/tfjs/networks.ts), in inference mode, fed NCHW and answering NCHW like the ONNX graph.
 * The only export file that loads tfjs: the CLIs import it dynamically, and only to verify against it.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../core/tf/backend';
import { initBackend } from '../core/tf/backend';
import type { NetworkSpec } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import { TfNetwork } from '../train/tfjs/networks';
import type { ReferenceFn } from './referenceForward';

export function tfjsReference(spec: NetworkSpec, weights: StateDict): ReferenceFn {
  return async (input, shape) => {
    // A fresh network per call keeps no variables alive between verifications.
    const net = new TfNetwork(spec, 'export_reference', weights);
    try {
      const y = tf.tidy(() => {
        const x = tf.transpose(tf.tensor4d(input, shape as [number, number, number, number]), [0, 2, 3, 1]);
        return tf.transpose(net.apply(x as tf.Tensor4D, { training: false }), [0, 3, 1, 2]);
      });
      const out = (await y.data()) as Float32Array;
      y.dispose();
      return out;
    } finally {
      net.dispose();
    }
  };
}

/** Starts tfjs on `backend` and returns the reference with its name for model.json. */
export async function openTfjsReference(
  backend: BackendChoice,
  log: (line: string) => void,
): Promise<{ reference: typeof tfjsReference; referenceName: string }> {
  await initBackend(backend, log);
  return { reference: tfjsReference, referenceName: `cyclegan-ts tfjs generator (${tf.getBackend()} backend)` };
}
