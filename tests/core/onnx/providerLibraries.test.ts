/** core/onnx/providerLibraries.ts: CUDA and TensorRT are only asked for where their libraries are installed. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ortBindingDir } from '../../../core/onnx/ortRuntime';
import { missingProviderLibrary } from '../../../core/onnx/providerLibraries';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ort-binding-'));
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

const touch = (name: string) => fs.writeFile(path.join(dir, name), '');

test('names the first missing library, where it was looked for, and how to install it', async () => {
  expect(missingProviderLibrary('cuda', dir, 'linux')).toBe(
    `not installed: no libonnxruntime_providers_shared.so beside onnxruntime-node's binding (${dir}); ` +
      'GPU machines add it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install',
  );
  await touch('libonnxruntime_providers_shared.so');
  expect(missingProviderLibrary('cuda', dir, 'linux')).toMatch(/^not installed: no libonnxruntime_providers_cuda\.so /);
  expect(missingProviderLibrary('tensorrt', dir, 'linux')).toMatch(/no libonnxruntime_providers_tensorrt\.so /);
  await touch('libonnxruntime_providers_cuda.so');
  expect(missingProviderLibrary('cuda', dir, 'linux')).toBeNull();
  expect(missingProviderLibrary('tensorrt', dir, 'linux')).not.toBeNull();
});

test('Windows names its libraries as DLLs', async () => {
  await touch('onnxruntime_providers_shared.dll');
  await touch('onnxruntime_providers_cuda.dll');
  expect(missingProviderLibrary('cuda', dir, 'win32')).toBeNull();
  expect(missingProviderLibrary('cuda', dir, 'linux')).not.toBeNull();
});

test('providers without libraries of their own are never held back', () => {
  for (const p of ['cpu', 'webgpu', 'dml', 'coreml'] as const)
    expect(missingProviderLibrary(p, dir, 'linux')).toBeNull();
});

test('looks beside the binding onnxruntime-node loads', async () => {
  const files = await fs.readdir(ortBindingDir());
  expect(files).toContain('onnxruntime_binding.node');
  const installed = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'].every((f) =>
    files.includes(f),
  );
  expect(missingProviderLibrary('cuda') === null).toBe(installed);
});
