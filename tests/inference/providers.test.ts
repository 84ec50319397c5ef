/** inference/providers.ts: which providers are probed, session options per provider (WebGPU's own options) and the fallback. */
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import { DEFAULT_EXECUTION_PROVIDERS, openSession, providerPrecheck, skippedLogLevel } from '../../inference/providers';
import { missingProviderLibrary } from '../../core/onnx/providerLibraries';
import { inferenceSessionOptions, type ExecutionProviderName, type SessionSettings } from '../../core/onnx/ortRuntime';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { webgpu } from '../helpers/backends';
import type { AdapterProbe } from '../../core/gpu/webgpuAdapter';
import { randomGeneratorOnnx } from '../helpers/tinyModel';

describe('providerPrecheck', () => {
  const linux = process.platform === 'linux';

  (linux ? it : it.skip)('does not probe WebGPU on Linux without a GPU device node, and says why', () => {
    expect(providerPrecheck('webgpu', () => [])).toBe(
      'not probed: no GPU device node (/dev/dri/renderD*, /dev/nvidia*)',
    );
  });

  it('probes WebGPU where a GPU device node exists', () => {
    // A hardware adapter, whatever this machine has (a software one is passed over: tested below).
    const hardware = (): AdapterProbe => ({
      found: true,
      adapterClass: 'hardware',
      adapter: { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' },
    });
    expect(providerPrecheck('webgpu', () => ['/dev/dri/renderD128'], false, hardware)).toBeNull();
    expect(providerPrecheck('webgpu', () => ['/dev/nvidia0'], false, hardware)).toBeNull();
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

describe('webgpu named by hand may take a software adapter; an automatic list passes over it', () => {
  const software = () =>
    ({
      found: true,
      adapterClass: 'software',
      adapter: { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa' },
    }) as const;
  const none = () => ({ found: false, reason: 'no WebGPU adapter' }) as const;

  (process.platform === 'linux' ? it : it.skip)('named: tried where the probe finds any adapter', () => {
    expect(providerPrecheck('webgpu', () => [], true, software)).toBeNull();
    expect(providerPrecheck('webgpu', () => [], true, none)).toBe('no WebGPU adapter (no WebGPU adapter)');
  });

  it('automatic: a software adapter is not tried, and the reason says how to ask for it', () => {
    expect(providerPrecheck('webgpu', () => ['/dev/dri/renderD128'], false, software)).toBe(
      'software WebGPU adapter (llvmpipe) is used only when asked for (name it in the provider list to use it)',
    );
  });

  it('the default provider list is the automatic one', () => {
    expect(loadConfig({}, {}).EXECUTION_PROVIDERS).toEqual([...DEFAULT_EXECUTION_PROVIDERS]);
  });
});

(webgpu.found ? describe : describe.skip)('the server with EXECUTION_PROVIDERS=webgpu', () => {
  /** The bundled model's AtoB answer to an example image, PNG decoded, from a server on `providers`. */
  async function served(providers: ExecutionProviderName[]) {
    const config = loadConfig({}, { MODELS_DIR: 'models', EXECUTION_PROVIDERS: providers, LOG_LEVEL: 'silent' });
    const repo = new ModelRepository(config, pino({ level: 'silent' }));
    await repo.load();
    try {
      const app = createApp(config, repo, { logger: pino({ level: 'silent' }) });
      const res = await request(app)
        .post('/translate?dir=AtoB')
        .attach('image', 'examples/twemoji/grinning-face.png')
        .buffer(true)
        .parse((r, done) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => done(null, Buffer.concat(chunks)));
        });
      expect([res.status, res.status === 200 ? '' : res.body.toString()]).toEqual([200, '']);
      const models = (await request(app).get('/v1/models')).body as unknown;
      return {
        pixels: await sharp(res.body as Buffer)
          .raw()
          .toBuffer(),
        models: JSON.stringify(models),
      };
    } finally {
      await repo.close();
    }
  }

  it('serves on the WebGPU provider what the CPU provider serves (within one grey level)', async () => {
    const gpu = await served(['webgpu']);
    const cpu = await served(['cpu']);
    expect(gpu.models).toContain('webgpu');
    expect(gpu.pixels.length).toBe(cpu.pixels.length);
    let worst = 0;
    for (let i = 0; i < cpu.pixels.length; i++) worst = Math.max(worst, Math.abs(gpu.pixels[i] - cpu.pixels[i]));
    expect(worst).toBeLessThanOrEqual(1);
  }, 600_000);
});
if (!webgpu.found) console.info(`skipped the server on WebGPU: ${webgpu.reason}`);
