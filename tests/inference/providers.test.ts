/** inference/providers.ts: which providers are probed, session options per provider (WebGPU's own options) and the fallback. */
import { openSession, providerPrecheck, skippedLogLevel } from '../../inference/providers';
import { missingProviderLibrary } from '../../core/onnx/providerLibraries';
import { inferenceSessionOptions, type SessionSettings } from '../../core/onnx/ortRuntime';
import { randomGeneratorOnnx } from '../helpers/tinyModel';

describe('providerPrecheck', () => {
  const linux = process.platform === 'linux';

  (linux ? it : it.skip)('does not probe WebGPU on Linux without a GPU device node, and says why', () => {
    expect(providerPrecheck('webgpu', () => [])).toBe(
      'not probed: no GPU device node (/dev/dri/renderD*, /dev/nvidia*)',
    );
  });

  it('probes WebGPU where a GPU device node exists', () => {
    expect(providerPrecheck('webgpu', () => ['/dev/dri/renderD128'])).toBeNull();
    expect(providerPrecheck('webgpu', () => ['/dev/nvidia0'])).toBeNull();
  });

  it('checks CUDA and TensorRT for their provider libraries, and leaves the other providers to onnxruntime', () => {
    for (const p of ['cuda', 'tensorrt'] as const)
      expect(providerPrecheck(p, () => [])).toBe(missingProviderLibrary(p));
    for (const p of ['dml', 'coreml', 'cpu'] as const) expect(providerPrecheck(p, () => [])).toBeNull();
  });
});

const cudaInstalled = missingProviderLibrary('cuda') === null;

(cudaInstalled ? test.skip : test)(
  'without the CUDA provider libraries, cuda is skipped unasked (no native error, logged at info) and cpu opens',
  async () => {
    const opened = await openSession(randomGeneratorOnnx(3, 3, 1), ['cuda', 'cpu'], BASE);
    try {
      expect(opened.provider).toBe('cpu');
      expect(opened.skipped).toEqual([
        {
          provider: 'cuda',
          reason: expect.stringMatching(/^not installed: no libonnxruntime_providers_shared\.so /),
          prechecked: true,
        },
      ]);
      expect(skippedLogLevel(opened.skipped)).toBe('info');
    } finally {
      await opened.session.release();
    }
  },
);

test('a provider that was tried and failed is a warning; one skipped unasked is not', () => {
  expect(skippedLogLevel([])).toBe('info');
  expect(skippedLogLevel([{ provider: 'webgpu', reason: 'not probed', prechecked: true }])).toBe('info');
  expect(
    skippedLogLevel([
      { provider: 'cuda', reason: 'not installed', prechecked: true },
      { provider: 'webgpu', reason: 'no adapter' },
    ]),
  ).toBe('warn');
});

const BASE: SessionSettings = {
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimization: 'all',
  cpuMemArena: true,
  memPattern: true,
};

test('the WebGPU provider gets its layout; graph capture is a session config entry; others are plain names', () => {
  const o = inferenceSessionOptions({ ...BASE, webgpuLayout: 'NHWC', webgpuGraphCapture: true }, ['webgpu', 'cpu']);
  expect(o.executionProviders).toEqual([{ name: 'webgpu', preferredLayout: 'NHWC' }, 'cpu']);
  expect(o.extra).toEqual({ 'ep.webgpuexecutionprovider.enableGraphCapture': '1' });
  const cpu = inferenceSessionOptions({ ...BASE, webgpuLayout: 'NHWC', webgpuGraphCapture: true }, ['cpu']);
  expect(cpu.executionProviders).toEqual(['cpu']);
  expect(cpu.extra).toBeUndefined();
  expect(inferenceSessionOptions(BASE, ['webgpu']).executionProviders).toEqual(['webgpu']);
});

test('webgpu with its options opens, or is skipped with a one-line reason and cpu takes over', async () => {
  const model = randomGeneratorOnnx(3, 3, 1);
  const settings = { ...BASE, webgpuLayout: 'NHWC' as const };
  const opened = await openSession(model, ['webgpu', 'cpu'], settings);
  try {
    if (opened.provider === 'webgpu') expect(opened.skipped).toEqual([]);
    else {
      expect(opened.provider).toBe('cpu');
      expect(opened.skipped.map((s) => s.provider)).toEqual(['webgpu']);
      expect(opened.skipped[0].reason.split('\n')).toHaveLength(1);
    }
  } finally {
    await opened.session.release();
  }
});
