/** train/trainingDevice.ts: what `--device auto` takes on a given machine, and that a named device is taken as named. */
import type { AdapterProbe, GpuAdapterInfo } from '../../core/gpu/webgpuAdapter';
import { resolveTrainingDevice, type DeviceProbes } from '../../train/trainingDevice';

const adapter = (info: Partial<GpuAdapterInfo>, adapterClass: 'hardware' | 'software'): AdapterProbe => ({
  found: true,
  adapter: { vendor: '', architecture: '', device: '', description: '', ...info },
  adapterClass,
});
const NVIDIA = adapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100' }, 'hardware');
const LAVAPIPE = adapter({ vendor: 'mesa', architecture: 'software', description: 'llvmpipe' }, 'software');
const NONE: AdapterProbe = { found: false, reason: 'no adapter' };

function resolve(webgpu: AdapterProbe, cuda: string | null, asked: 'auto' | 'cpu' | 'webgpu' | 'cuda' = 'auto') {
  const lines: string[] = [];
  const probes: DeviceProbes = { webgpu: () => webgpu, cuda: () => cuda };
  return { device: resolveTrainingDevice(asked, (l) => lines.push(l), probes), lines };
}

test('auto takes CUDA where it is usable, and says so', () => {
  const r = resolve(NVIDIA, null);
  expect(r.device).toBe('cuda');
  expect(r.lines).toEqual(['device auto: cuda']);
});

test('auto never takes WebGPU while its parity tests fail: a hardware adapter is passed over, in one line', () => {
  const r = resolve(NVIDIA, 'no CUDA provider installed');
  expect(r.device).toBe('cpu');
  expect(r.lines).toHaveLength(1);
  expect(r.lines[0]).toMatch(/^device auto: cpu, passed over WebGPU on .*NVIDIA H100.*--device webgpu/);
});

test('auto never takes a software adapter, and says nothing on a machine without a GPU', () => {
  expect(resolve(LAVAPIPE, 'no NVIDIA device').device).toBe('cpu');
  expect(resolve(NONE, 'no NVIDIA device')).toEqual({ device: 'cpu', lines: [] });
});

test('a named device is taken as named, without probing', () => {
  const probes: DeviceProbes = {
    webgpu: () => {
      throw new Error('probed');
    },
    cuda: () => {
      throw new Error('probed');
    },
  };
  for (const d of ['cpu', 'webgpu', 'cuda'] as const) expect(resolveTrainingDevice(d, () => {}, probes)).toBe(d);
});
