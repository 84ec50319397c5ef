/**
 * Import first in any test that runs onnxruntime-node. Jest runs each test file in its own
 * JavaScript realm, while onnxruntime-node's native binding hands back output tensors backed by
 * the main realm's typed arrays; onnxruntime-common then rejects them (`instanceof` across realms
 * fails: "A float32 tensor's data must be type of Float32Array"). Using the main realm's typed
 * array constructors in this realm, before onnxruntime loads, makes both sides agree.
 */
import { runInThisContext } from 'node:vm';

const NAMES = [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

for (const name of NAMES) {
  const main = runInThisContext(name) as unknown;
  if (main !== (globalThis as Record<string, unknown>)[name]) (globalThis as Record<string, unknown>)[name] = main;
}
