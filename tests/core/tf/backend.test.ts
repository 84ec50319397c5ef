/**
 * core/tf/backend: explicit choices, the 'auto' fallback chain, and the fast-gradient switch.
 * The native @tensorflow/tfjs-node(-gpu) packages are optional; these tests adapt to whether one is installed.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendChoice, releaseBackend, usesFastGradients } from '../../../core/tf/backend';
import { webgpu } from '../../helpers/backends';
import { activateWebGpu } from '../../../core/tf/webgpu';
import { lavapipeIcd } from '../../helpers/softwareAdapter';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nativeInstalled = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');
const withAdapter = webgpu.found ? test : test.skip;
const withoutAdapter = webgpu.found ? test.skip : test;
if (!webgpu.found) console.info(`WebGPU tests that need an adapter are skipped: ${webgpu.reason}`);

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
    "unknown backend 'gpu' (expected one of auto, tensorflow, webgpu, wasm, cpu)",
  );
});

withoutAdapter('explicit webgpu without an adapter is a clear error naming the reason', async () => {
  await expect(initBackend('webgpu')).rejects.toThrow(
    new RegExp(
      `backend 'webgpu' requested but unavailable \\(${escape(webgpu.found ? '' : webgpu.reason)}\\).*or use --backend wasm`,
    ),
  );
});

/** `initBackend('auto')` in a fresh process (the probe is cached per process; its stderr is what a user sees). */
function autoInChild(env: Record<string, string>) {
  const script = `require('./core/tf/backend').initBackend('auto', (m) => process.stdout.write(m + '\\n'))`;
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: path.join(__dirname, '..', '..', '..'),
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

(nativeInstalled ? test.skip : test)(
  'auto without an adapter says why webgpu was skipped, and Dawn prints nothing to stderr',
  () => {
    const r = autoInChild({ VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^tfjs backend: wasm — .*webgpu: (no WebGPU adapter|the optional package)/);
  },
);

(nativeInstalled || !lavapipeIcd ? test.skip : test)(
  `auto passes over the software adapter to wasm, says so, and Dawn prints nothing${lavapipeIcd ? '' : ' [skipped: no lavapipe ICD installed]'}`,
  () => {
    const r = autoInChild({ VK_ICD_FILENAMES: lavapipeIcd ?? '' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /^tfjs backend: wasm — .*webgpu: software WebGPU adapter \(llvmpipe\) is used only when asked for/,
    );
  },
);

withoutAdapter(
  'the WebGPU loader registers tfjs-backend-webgpu over Dawn; with no adapter it fails cleanly',
  async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined); // tfjs reports the failed init
    try {
      await expect(activateWebGpu({ vendor: 'none', architecture: '', device: '', description: '' })).rejects.toThrow(
        'the WebGPU backend failed to initialise',
      );
      expect(tf.findBackendFactory('webgpu')).not.toBeNull();
      expect(typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBe('object');
    } finally {
      warn.mockRestore();
      tf.removeBackend('webgpu');
      await tf.setBackend('wasm');
    }
  },
);

withAdapter('webgpu: activates, names the adapter, uses the forward-conv gradients, and is released', async () => {
  const lines: string[] = [];
  const info = await initBackend('webgpu', (m) => lines.push(m));
  expect(info.name).toBe('webgpu');
  expect(info.reason).toMatch(/^WebGPU via Dawn \(/);
  expect(lines).toHaveLength(1);
  expect(usesFastGradients()).toBe(true);
  const y = tf.add(tf.tensor1d([1, 2]), 1);
  expect(Array.from(await y.data())).toEqual([2, 3]);
  y.dispose();
  releaseBackend();
  expect(tf.findBackend('webgpu')).toBeNull();
  await tf.setBackend('wasm');
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('threaded wasm (core/tf/wasmThreads.ts)', () => {
  const probe = (threads: number, fakeCores: number) => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(__dirname, '..', '..', 'helpers', 'wasmThreadsProbe.ts'),
        String(threads),
        String(fakeCores),
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { threads: number; reason: string; hash: number };
  };

  test('starts under Node with 2 XNNPACK threads and trains bit-identically to 1 thread', () => {
    const single = probe(1, 0);
    // 4 reported cores: tfjs allows half of them, 2 threads (on this machine's real cores either way).
    const threaded = probe(2, 4);
    expect(single.threads).toBe(1);
    expect(threaded.threads).toBe(2);
    expect(threaded.reason).toMatch(/2 threads/);
    expect(threaded.hash).toBe(single.hash);
  }, 240_000);

  test('tfjs caps the pool at half the cores', () => {
    expect(probe(8, 2).threads).toBe(1);
  }, 120_000);
});
