import { providerPrecheck } from '../inference/providers';

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

  it('leaves the other providers to onnxruntime', () => {
    for (const p of ['cuda', 'tensorrt', 'dml', 'coreml', 'cpu'] as const)
      expect(providerPrecheck(p, () => [])).toBeNull();
  });
});
