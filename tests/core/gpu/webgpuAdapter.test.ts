/**
 * core/gpu/webgpuAdapter: the adapter classification on adapter infos as drivers report them, the
 * rule that an automatic choice never takes a software adapter, and the probe itself in a child
 * process with and without the software adapter visible (VK_ICD_FILENAMES pointing at lavapipe's ICD).
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  adapterName,
  autoAdapter,
  classifyAdapter,
  probeWebGpu,
  type AdapterProbe,
  type GpuAdapterInfo,
} from '../../../core/gpu/webgpuAdapter';
import { startTsWorker } from '../../../core/threads/tsWorker';
import { lavapipeIcd } from '../../helpers/softwareAdapter';

const info = (o: Partial<GpuAdapterInfo>): GpuAdapterInfo => ({
  vendor: '',
  architecture: '',
  device: '',
  description: '',
  ...o,
});

/** Dawn 0.6.2 on Mesa 25.0.7's lavapipe (as printed on a Debian 12 machine with bookworm-backports). */
const LAVAPIPE = info({
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
  isFallbackAdapter: true,
});

test.each([
  ['lavapipe as Dawn reports it', LAVAPIPE],
  ['architecture software alone', info({ vendor: 'x', architecture: 'software' })],
  ['the fallback flag alone', info({ vendor: 'x', isFallbackAdapter: true })],
  ['llvmpipe named only in the description', info({ vendor: 'mesa', description: 'llvmpipe (LLVM 19.1.7, 256 bits)' })],
  ['lavapipe named only in the device', info({ vendor: 'mesa', device: 'lavapipe' })],
  ['SwiftShader', info({ vendor: 'google', device: 'SwiftShader Device (Subzero)' })],
  ['WARP', info({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })],
])('software: %s', (_, i) => {
  expect(classifyAdapter(i)).toBe('software');
});

test.each([
  ['NVIDIA on Vulkan', info({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })],
  ['Mesa radv on an AMD GPU', info({ vendor: 'amd', architecture: 'rdna-3', description: 'radv: Mesa 25.0.7' })],
  [
    'Mesa anv on Intel',
    info({ vendor: 'intel', architecture: 'gen-12lp', description: 'Intel open-source Mesa driver' }),
  ],
  ['an adapter that says nothing', info({ vendor: 'unknown' })],
  ['isFallbackAdapter false', info({ vendor: 'apple', architecture: 'metal-3', isFallbackAdapter: false })],
])('hardware: %s', (_, i) => {
  expect(classifyAdapter(i)).toBe('hardware');
});

test('adapterName is the short name a log line carries', () => {
  expect(adapterName(LAVAPIPE)).toBe('llvmpipe');
  expect(adapterName(info({ vendor: 'nvidia', device: 'NVIDIA H100 80GB HBM3' }))).toBe('NVIDIA H100 80GB HBM3');
  expect(adapterName(info({ vendor: 'nvidia' }))).toBe('nvidia');
  expect(adapterName(info({}))).toBe('unknown adapter');
});

test('an automatic choice takes a hardware adapter, never a software one, and says why', () => {
  const hw: AdapterProbe = {
    found: true,
    adapter: info({ vendor: 'nvidia', device: 'H200' }),
    adapterClass: 'hardware',
  };
  expect(autoAdapter(hw)).toEqual({ usable: true, adapter: hw.adapter });
  expect(autoAdapter({ found: true, adapter: LAVAPIPE, adapterClass: 'software' })).toEqual({
    usable: false,
    reason: 'software WebGPU adapter (llvmpipe) is used only when asked for',
  });
  expect(autoAdapter({ found: false, reason: 'no WebGPU adapter: x' })).toEqual({
    usable: false,
    reason: 'no WebGPU adapter: x',
  });
});

/** The probe in a fresh process (it is cached per process), with `env` on top of this one's. */
function probeIn(env: Record<string, string>): { probe: AdapterProbe; stderr: string } {
  const script = `process.stdout.write(JSON.stringify(require('./core/gpu/webgpuAdapter').probeWebGpu()))`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: path.join(__dirname, '..', '..', '..'),
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(r.status).toBe(0);
  return { probe: JSON.parse(r.stdout) as AdapterProbe, stderr: r.stderr };
}

const NO_LAVAPIPE = ` [skipped: no lavapipe ICD in ${'/usr/share/vulkan/icd.d'} or VK_ICD_FILENAMES; tools/gpu/software-adapter.sh installs it]`;
(lavapipeIcd ? test : test.skip)(
  `the probe finds lavapipe, classes it software, and Dawn prints nothing${lavapipeIcd ? '' : NO_LAVAPIPE}`,
  () => {
    const { probe, stderr } = probeIn({ VK_ICD_FILENAMES: lavapipeIcd ?? '' });
    expect(probe).toMatchObject({ found: true, adapterClass: 'software', adapter: { vendor: 'mesa' } });
    expect(stderr).toBe('');
  },
);

test('with no Vulkan driver the probe finds nothing, gives the reason, and Dawn prints nothing', () => {
  const { probe, stderr } = probeIn({
    VK_ICD_FILENAMES: '/nonexistent/icd.json',
    VK_DRIVER_FILES: '/nonexistent/icd.json',
  });
  expect(probe.found).toBe(false);
  expect(probe.found ? '' : probe.reason).toMatch(/^no WebGPU adapter|^WebGPU probe failed|optional package 'webgpu'/);
  expect(stderr).toBe('');
});

test('a worker thread (core/threads/tsWorker.ts, as the inference workers start) probes what the main thread does', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'probe-worker-'));
  try {
    const file = path.join(dir, 'probe.ts');
    const probeModule = path.join(__dirname, '..', '..', '..', 'core', 'gpu', 'webgpuAdapter.ts');
    writeFileSync(
      file,
      `import { parentPort } from 'node:worker_threads';\n` +
        `import { probeWebGpu } from ${JSON.stringify(probeModule.replace(/\.ts$/, ''))};\n` +
        `parentPort!.postMessage(probeWebGpu());\n`,
    );
    const worker = startTsWorker(file);
    const [inWorker] = (await once(worker, 'message')) as [AdapterProbe];
    await worker.terminate();
    expect(inWorker).toEqual(probeWebGpu());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
