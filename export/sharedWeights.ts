/**
 * One copy of a direction's weights for all its graphs. The plain graph and the two tiling graphs
 * of a direction are built from the same state_dict, so each would otherwise carry the whole
 * generator. Here every large initializer moves into one ONNX external-data file per direction
 * (`<direction>.weights`), stored once per distinct content, and each graph refers to it by
 * location, offset and length. onnxruntime resolves the location relative to the graph's path, so
 * such graphs are opened from files (the server and `npm run translate` do); the browser page gets
 * them with the weights embedded again (core/onnx/externalWeights.ts).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { firstLine } from '../core/errorText';
import { embedExternalWeights } from '../core/onnx/externalWeights';
import { createSession, float32Tensor } from '../core/onnx/ortRuntime';
import { directionSchema, type ModelManifest } from '../core/modelManifest';
import { imageLikeSample, seededRandom } from './verify';

/** Initializers smaller than this stay inside the graph (pad amounts, norm scale/bias constants). */
export const EXTERNAL_MIN_BYTES = 1024;
/** Offsets in the data file are multiples of this. */
const ALIGN = 64;

export function weightsFileName(direction: string): string {
  return `${direction}.weights`;
}

/**
 * Rewrites `graphs` (file name → ONNX bytes with embedded initializers) so their large
 * initializers live in one data file named `dataFile`; returns the new graph bytes and the file.
 */
export function shareWeights(
  graphs: ReadonlyMap<string, Uint8Array>,
  dataFile: string,
): { graphs: Map<string, Uint8Array>; data: Uint8Array } {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const offsets = new Map<string, number>();
  const out = new Map<string, Uint8Array>();
  for (const [file, bytes] of graphs) {
    const model = onnx.ModelProto.decode(bytes);
    for (const t of model.graph?.initializer ?? []) {
      const raw = t.rawData;
      if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES) continue;
      if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
        throw new Error(`${file}: initializer '${t.name}' is already external`);
      const key = createHash('sha256').update(raw).digest('hex');
      let offset = offsets.get(key);
      if (offset === undefined) {
        const pad = (ALIGN - (size % ALIGN)) % ALIGN;
        if (pad > 0) chunks.push(new Uint8Array(pad));
        offset = size + pad;
        chunks.push(raw);
        size = offset + raw.byteLength;
        offsets.set(key, offset);
      }
      t.rawData = new Uint8Array(0);
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [
        { key: 'location', value: dataFile },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.byteLength) },
      ];
    }
    out.set(file, onnx.ModelProto.encode(model).finish());
  }
  const data = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.byteLength;
  }
  return { graphs: out, data };
}

/**
 * Opens every graph of a written model folder from its path, as the server does (so external
 * weights must resolve), and checks that the plain graph opened by path computes what it computes
 * with the weights embedded again: offsets and lengths point at the right bytes.
 */
export async function checkWrittenModel(dir: string, manifest: ModelManifest): Promise<void> {
  for (const direction of directionSchema.options) {
    const e = manifest.directions[direction];
    if (!e?.weights) continue;
    const files = [e.file, e.tiling?.statistics?.file, e.tiling?.apply?.file].filter((f): f is string => !!f);
    for (const f of files.slice(1)) {
      const s = await createSession(path.join(dir, f)).catch((err: Error) => {
        throw new Error(`${path.join(dir, f)} does not open with its external weights: ${firstLine(err)}`);
      });
      await s.release();
    }
    const byPath = await createSession(path.join(dir, e.file)).catch((err: Error) => {
      throw new Error(`${path.join(dir, e.file)} does not open with its external weights: ${firstLine(err)}`);
    });
    const embedded = await createSession(await embedExternalWeights(dir, e.file));
    try {
      const side = Math.max(manifest.sizeMultiple, 8);
      const ch = e.inputNc ?? (direction === 'AtoB' ? manifest.inputNc : manifest.outputNc);
      const input = float32Tensor(imageLikeSample(ch, side, side, seededRandom(7)), [1, ch, side, side]);
      const [a, b] = await Promise.all([byPath.run({ input }), embedded.run({ input })]);
      const x = a.output.data as Float32Array;
      const y = b.output.data as Float32Array;
      if (x.length !== y.length || x.some((v, i) => v !== y[i]))
        throw new Error(`${path.join(dir, e.file)}: the graph opened from its path differs from its embedded form`);
    } finally {
      await Promise.all([byPath.release(), embedded.release()]);
    }
  }
}
