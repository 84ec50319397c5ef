/**
 * Reading ONNX external data back into a graph. Exported model folders keep a direction's weights
 * in one `<direction>.weights` file shared by its graphs (export/sharedWeights.ts); whatever opens a
 * graph from bytes rather than from its path (the exporter's weight reader, the browser page, which
 * fetches one graph) needs them embedded again.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';

/**
 * The graph `file` (in folder `dir`) with its external initializers read back in: the same model
 * with every weight embedded, e.g. to read weights or open a session from bytes. Locations must be
 * plain file names in `dir`.
 */
export async function embedExternalWeights(dir: string, file: string): Promise<Uint8Array> {
  const where = path.join(dir, file);
  const bytes = await fs.readFile(where);
  const model = onnx.ModelProto.decode(bytes);
  const cache = new Map<string, Buffer>();
  let external = false;
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    external = true;
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location') ?? '';
    if (!location || location !== path.basename(location) || location === '..')
      throw new Error(
        `${where}: initializer '${t.name}' has external location '${location}', not a file in the folder`,
      );
    let data = cache.get(location);
    if (!data) {
      data = await fs.readFile(path.join(dir, location)).catch((e: NodeJS.ErrnoException) => {
        throw new Error(`${where}: external weights ${location}: ${e.code ?? e.message}`);
      });
      cache.set(location, data);
    }
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : data.byteLength - offset;
    if (!(
      Number.isSafeInteger(offset) &&
      Number.isSafeInteger(length) &&
      offset >= 0 &&
      offset + length <= data.byteLength
    ))
      throw new Error(`${where}: initializer '${t.name}' points past the end of ${location}`);
    t.rawData = Uint8Array.from(data.subarray(offset, offset + length));
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    t.externalData = [];
  }
  return external ? onnx.ModelProto.encode(model).finish() : bytes;
}
