import * as tf from '@tensorflow/tfjs';
import { initBackend, releaseBackend } from '../../core/tf/backend';
import { probeWebGpu } from '../../core/gpu/webgpuAdapter';

/** Runs `body` with the given backend active, restoring the previous one afterwards (reference vs. fast path). */
export async function onBackend<T>(name: 'cpu' | 'wasm', body: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(name);
  try {
    return body();
  } finally {
    await tf.setBackend(previous);
  }
}

/** Whether this machine has a WebGPU adapter (and the optional packages), and if not why. */
export const webgpu = probeWebGpu();

/**
 * `describe` on the WebGPU backend when an adapter exists, back on wasm afterwards. Without one the
 * block is skipped and the reason is in its name (and printed), so a run shows what was not covered.
 */
export function describeOnWebGpu(name: string, body: () => void): void {
  if (!webgpu.found) {
    console.info(`skipped '${name}': ${webgpu.reason}`);
    describe.skip(`${name} [skipped: ${webgpu.reason}]`, body);
    return;
  }
  describe(name, () => {
    beforeAll(async () => {
      await initBackend('webgpu');
    });
    afterAll(async () => {
      releaseBackend();
      await initBackend('wasm');
    });
    body();
  });
}
