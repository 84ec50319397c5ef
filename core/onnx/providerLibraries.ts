/**
 * Whether onnxruntime-node's optional provider libraries are installed. The CUDA and TensorRT
 * providers are shared libraries beside the native binding (`libonnxruntime_providers_shared.so`
 * plus `libonnxruntime_providers_cuda.so` / `_tensorrt.so`), which an ordinary install leaves out
 * (package.json `allowScripts`; `ONNXRUNTIME_NODE_INSTALL=cuda12 npm install` adds them). Asked
 * for such a provider without them, onnxruntime throws, and at log level `error` or below first
 * prints a native `[E:onnxruntime:...] Failed to load library` line on stderr. Checking for the
 * files first means a machine without them never asks, so it prints nothing.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ortBindingDir, type ExecutionProviderName } from './ortRuntime';

/** The provider libraries each provider loads, by their base name (`providers_shared` → `libonnxruntime_providers_shared.so`). */
const PROVIDER_LIBRARIES: Partial<Record<ExecutionProviderName, readonly string[]>> = {
  cuda: ['providers_shared', 'providers_cuda'],
  tensorrt: ['providers_shared', 'providers_tensorrt'],
};

function libraryFile(base: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? `onnxruntime_${base}.dll` : `libonnxruntime_${base}.so`;
}

/**
 * Why `provider` cannot load on this installation (its first missing library, where the binding
 * looks for it, how to add it), or null when it needs no library of its own or all of them are there.
 */
export function missingProviderLibrary(
  provider: ExecutionProviderName,
  dir: string = ortBindingDir(),
  platform: NodeJS.Platform = process.platform,
): string | null {
  const needed = PROVIDER_LIBRARIES[provider];
  if (!needed) return null;
  const missing = needed.map((base) => libraryFile(base, platform)).find((f) => !existsSync(path.join(dir, f)));
  if (missing === undefined) return null;
  return (
    `not installed: no ${missing} beside onnxruntime-node's binding (${dir}); ` +
    'GPU machines add it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install'
  );
}
