/**
 * train/engines: what `--engine auto` says about a WebGPU adapter it passed over. A software adapter
 * (a CPU emulating a GPU) never wins an automatic choice: the run trains on the onnxruntime CPU
 * engine and one line says why; a hardware adapter or none needs no such line.
 */
import type { AdapterProbe } from '../../core/gpu/webgpuAdapter';
import { parseTrainOptions } from '../../train/trainOptions';
import { resolveEngine } from '../../train/engines';

const LAVAPIPE: AdapterProbe = {
  found: true,
  adapterClass: 'software',
  adapter: {
    vendor: 'mesa',
    architecture: 'software',
    device: 'llvmpipe-llvm-15-0-6-256-bits-',
    description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
    isFallbackAdapter: true,
  },
};
const H200: AdapterProbe = {
  found: true,
  adapterClass: 'hardware',
  adapter: { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200' },
};

function picked(extra: Record<string, unknown>, backend: string, adapter: AdapterProbe) {
  const lines: string[] = [];
  const o = parseTrainOptions({ dataroot: '/nonexistent', workers: 1, threads: 2, ...extra });
  let probes = 0;
  const plan = resolveEngine(
    o,
    backend,
    (m) => lines.push(m),
    () => (probes++, adapter),
  );
  return { plan, lines, probes };
}

test('auto passes over a software adapter to the onnxruntime CPU engine, in one line naming it', () => {
  expect(picked({}, 'wasm', LAVAPIPE)).toEqual({
    plan: { engine: 'onnxruntime', threads: 2, workers: 1 },
    lines: [
      'engine auto: onnxruntime on the CPU, passed over the software WebGPU adapter (llvmpipe): ' +
        'the onnxruntime CPU engine is faster (--device webgpu uses it)',
    ],
    probes: 1,
  });
});

test('no line where there is no adapter or a hardware one, or where the engine was named', () => {
  expect(picked({}, 'wasm', { found: false, reason: 'no WebGPU adapter' }).lines).toEqual([]);
  expect(picked({}, 'wasm', H200).lines).toEqual([]);
  const named = picked({ engine: 'onnxruntime' }, 'wasm', LAVAPIPE);
  expect(named).toEqual({ plan: { engine: 'onnxruntime', threads: 2, workers: 1 }, lines: [], probes: 0 });
});

test('the tfjs engine on an adapter asked for by name is not second-guessed', () => {
  expect(picked({ threads: undefined }, 'webgpu', LAVAPIPE)).toEqual({
    plan: { engine: 'tfjs', backend: 'webgpu', workers: 1 },
    lines: ['tfjs backend webgpu: training on the tfjs engine'],
    probes: 0,
  });
});
