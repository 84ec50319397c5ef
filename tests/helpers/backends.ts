import * as tf from '@tensorflow/tfjs';

/** Runs `body` with the given backend active, restoring wasm afterwards (reference vs. fast path). */
export async function onBackend<T>(name: 'cpu' | 'wasm', body: () => T): Promise<T> {
  await tf.setBackend(name);
  try {
    return body();
  } finally {
    await tf.setBackend('wasm');
  }
}
