/**
 * core/tf/backend: explicit choices, the 'auto' fallback chain, and the fast-gradient switch.
 * The native @tensorflow/tfjs-node(-gpu) packages are optional; these tests adapt to whether one is installed.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendChoice, usesFastGradients } from '../core/tf/backend';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nativeInstalled = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');

test('wasm: SIMD and thread count are reported, and gradients take the forward-conv path', async () => {
  const lines: string[] = [];
  const info = await initBackend('wasm', (m) => lines.push(m));
  expect(info.name).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
  expect(info.reason).toMatch(/SIMD (on|off), \d+ threads?/);
  expect(lines).toEqual([`tfjs backend: wasm — ${info.reason}`]);
  expect(usesFastGradients()).toBe(true);
});

test('cpu', async () => {
  const info = await initBackend('cpu');
  expect(info.name).toBe('cpu');
  expect(tf.getBackend()).toBe('cpu');
  expect(usesFastGradients()).toBe(true);
});

(nativeInstalled ? test.skip : test)('explicit tensorflow without the native package is a clear error', async () => {
  await expect(initBackend('tensorflow')).rejects.toThrow(
    /backend 'tensorflow' requested but native TensorFlow could not be loaded .*tfjs-node: not installed.*use --backend wasm/,
  );
});

(nativeInstalled ? test.skip : test)('auto falls back to wasm and says why', async () => {
  const info = await initBackend('auto');
  expect(info.name).toBe('wasm');
  expect(info.reason).toMatch(/auto skipped: .*@tensorflow\/tfjs-node: not installed/);
});

test('unknown choice', () => {
  expect(() => parseBackendChoice('gpu')).toThrow(
    "unknown backend 'gpu' (expected one of auto, tensorflow, wasm, cpu)",
  );
});
