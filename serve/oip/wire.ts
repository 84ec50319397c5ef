/**
 * The Open Inference Protocol (KServe v2) REST wire format: JSON tensors and the binary tensor
 * data extension, both directions. Pure functions over bytes, shared by the server (serve/oip/router.ts)
 * and the example client (examples/oipClient.ts), so both sides speak exactly one format.
 *
 * Binary extension: the body is the JSON header (its length in `Inference-Header-Content-Length`)
 * followed by the raw data of every tensor whose `parameters.binary_data_size` is set, in the order
 * the tensors are listed. FP32 is little-endian IEEE 754; each BYTES element is a 4-byte
 * little-endian length and the bytes. In JSON `data`, BYTES elements are base64 strings here (JSON
 * strings cannot hold arbitrary bytes such as an encoded image).
 */
import { HttpProblem } from '../problem';

export const HEADER_LENGTH = 'inference-header-content-length';

/** Every datatype the protocol names (only FP32 and BYTES are served here). */
export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
  'BF16',
] as const;

export type Parameters = Record<string, unknown>;

export interface TensorHeader {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Parameters;
  data?: unknown;
}

export interface RequestedOutput {
  name: string;
  parameters?: Parameters;
}

export interface InferRequestHeader {
  id?: string;
  parameters?: Parameters;
  inputs: TensorHeader[];
  outputs?: RequestedOutput[];
}

/** A tensor with its values: FP32 as a Float32Array, BYTES as one Buffer per element. */
export type Tensor =
  | { name: string; shape: number[]; datatype: 'FP32'; data: Float32Array }
  | { name: string; shape: number[]; datatype: 'BYTES'; data: Buffer[] };

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: Tensor[];
}

const bad = (detail: string) => new HttpProblem('invalid-request', detail);

function elementCount(shape: number[], name: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw bad(`input '${name}': shape [${shape}] has a dimension that is not an integer >= 0`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw bad(`input '${name}': shape [${shape}] is too large`);
  return n;
}

/** The 4-byte-length-prefixed form of BYTES elements. */
export function serializeBytes(elements: readonly Uint8Array[]): Buffer {
  const total = elements.reduce((a, e) => a + 4 + e.length, 0);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.length, at);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/** Splits length-prefixed BYTES elements; `what` names the tensor in errors. */
export function deserializeBytes(buf: Buffer, what: string): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length)
      throw bad(`${what}: binary BYTES data is truncated (an element's 4-byte length is cut off)`);
    const len = buf.readUInt32LE(at);
    if (at + 4 + len > buf.length)
      throw bad(`${what}: binary BYTES element ${out.length} claims ${len} bytes, only ${buf.length - at - 4} remain`);
    out.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Little-endian FP32 bytes → values (copied: the slice of a body need not be 4-byte aligned). */
export function fp32FromBytes(buf: Buffer): Float32Array {
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

export function fp32ToBytes(values: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

/** Nested or flat JSON `data` → its elements in row-major order. */
function flatten(data: unknown, name: string): unknown[] {
  if (!Array.isArray(data)) throw bad(`input '${name}': data must be an array`);
  const out: unknown[] = [];
  const walk = (a: unknown[], depth: number) => {
    if (depth > 16) throw bad(`input '${name}': data is nested too deeply`);
    for (const v of a) {
      if (Array.isArray(v)) walk(v, depth + 1);
      else out.push(v);
    }
  };
  walk(data, 0);
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function binaryDataSize(t: TensorHeader): number | undefined {
  const size = t.parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (!Number.isSafeInteger(size) || (size as number) < 0)
    throw bad(`input '${t.name}': parameters.binary_data_size must be an integer >= 0`);
  return size as number;
}

/**
 * Splits a binary-extension body at `headerLength` (the header's value) into its JSON header and
 * the raw tensor data after it.
 */
export function splitBinaryBody(body: Buffer, headerLength: string): { header: unknown; binary: Buffer } {
  if (!/^[0-9]{1,15}$/.test(headerLength.trim()))
    throw bad(`Inference-Header-Content-Length must be a byte count, got '${headerLength}'`);
  const n = Number(headerLength);
  if (n > body.length) throw bad(`Inference-Header-Content-Length is ${n} but the body has only ${body.length} bytes`);
  return { header: parseJson(body.subarray(0, n)), binary: body.subarray(n) };
}

export function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw bad(`the inference request header is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The input tensors of a request: each from its JSON `data` or, with `binary_data_size`, from the
 * next bytes of `binary` (null for a plain JSON request). Checks datatypes against `expected`
 * (input name → datatype), element counts against shapes, and that the binary data is used up.
 */
export function decodeInputs(
  header: InferRequestHeader,
  binary: Buffer | null,
  expected: Record<string, 'FP32' | 'BYTES'>,
): Tensor[] {
  let at = 0;
  const tensors: Tensor[] = [];
  for (const t of header.inputs) {
    const want = expected[t.name];
    if (!want) throw bad(`unknown input '${t.name}' (inputs: ${Object.keys(expected).join(', ')})`);
    if (t.datatype !== want) throw bad(`input '${t.name}' has datatype ${want}, got ${t.datatype}`);
    const count = elementCount(t.shape, t.name);
    const size = binaryDataSize(t);
    if (size !== undefined) {
      if (binary === null)
        throw bad(
          `input '${t.name}' has binary_data_size but the request has no Inference-Header-Content-Length header`,
        );
      if (t.data !== undefined) throw bad(`input '${t.name}' has both data and binary_data_size`);
      if (at + size > binary.length)
        throw bad(
          `input '${t.name}': binary_data_size ${size} runs past the end of the body (${binary.length - at} bytes left): truncated binary data`,
        );
      const raw = binary.subarray(at, at + size);
      at += size;
      if (want === 'FP32') {
        if (size !== count * 4)
          throw bad(
            `input '${t.name}': shape [${t.shape}] needs ${count * 4} bytes of FP32, binary_data_size is ${size}`,
          );
        tensors.push({ name: t.name, shape: t.shape, datatype: 'FP32', data: fp32FromBytes(raw) });
      } else {
        const elements = deserializeBytes(raw, `input '${t.name}'`);
        if (elements.length !== count)
          throw bad(
            `input '${t.name}': shape [${t.shape}] has ${count} element(s), the binary data holds ${elements.length}`,
          );
        tensors.push({ name: t.name, shape: t.shape, datatype: 'BYTES', data: elements });
      }
      continue;
    }
    if (t.data === undefined) throw bad(`input '${t.name}' has neither data nor parameters.binary_data_size`);
    const values = flatten(t.data, t.name);
    if (values.length !== count)
      throw bad(`input '${t.name}': shape [${t.shape}] has ${count} element(s), data has ${values.length}`);
    if (want === 'FP32') {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (typeof v !== 'number') throw bad(`input '${t.name}': FP32 data element ${i} is not a number`);
        data[i] = v;
      }
      tensors.push({ name: t.name, shape: t.shape, datatype: 'FP32', data });
    } else {
      const data = values.map((v, i) => {
        if (typeof v !== 'string' || !BASE64.test(v))
          throw bad(`input '${t.name}': BYTES data element ${i} is not a base64 string`);
        return Buffer.from(v, 'base64');
      });
      tensors.push({ name: t.name, shape: t.shape, datatype: 'BYTES', data });
    }
  }
  if (binary !== null && at !== binary.length)
    throw bad(`the body has ${binary.length - at} byte(s) after the tensors its header describes`);
  return tensors;
}

/** One output's JSON form (without data when it travels as binary) and its binary bytes. */
function outputParts(t: Tensor, binary: boolean): { json: Record<string, unknown>; bytes: Buffer | null } {
  const json: Record<string, unknown> = { name: t.name, datatype: t.datatype, shape: t.shape };
  if (binary) {
    const bytes = t.datatype === 'FP32' ? fp32ToBytes(t.data) : serializeBytes(t.data);
    json.parameters = { binary_data_size: bytes.length };
    return { json, bytes };
  }
  json.data = t.datatype === 'FP32' ? Array.from(t.data) : t.data.map((b) => b.toString('base64'));
  return { json, bytes: null };
}

/**
 * Encodes a response: outputs for which `binary(name)` holds go after the JSON header, and then
 * `headerLength` is the header's byte length (for `Inference-Header-Content-Length`); else null.
 */
export function encodeResponse(
  r: InferResponse,
  binary: (name: string) => boolean,
): { body: Buffer; headerLength: number | null } {
  const parts = r.outputs.map((t) => outputParts(t, binary(t.name)));
  const header = Buffer.from(JSON.stringify({ ...r, outputs: parts.map((p) => p.json) }), 'utf8');
  const tails = parts.flatMap((p) => (p.bytes ? [p.bytes] : []));
  if (tails.length === 0) return { body: header, headerLength: null };
  return { body: Buffer.concat([header, ...tails]), headerLength: header.length };
}

/** Parses a response body as tritonclient's InferResult does: header of `headerLength` bytes, then outputs in order. */
export function decodeResponse(body: Buffer, headerLength: string | null): InferResponse {
  const header = (headerLength === null ? parseJson(body) : splitBinaryBody(body, headerLength).header) as {
    outputs: TensorHeader[];
  } & Omit<InferResponse, 'outputs'>;
  let at = headerLength === null ? 0 : Number(headerLength);
  const outputs = header.outputs.map((o): Tensor => {
    const size = o.parameters?.binary_data_size as number | undefined;
    const raw = size === undefined ? null : body.subarray(at, (at += size));
    if (o.datatype === 'FP32')
      return {
        ...o,
        datatype: 'FP32',
        data: raw ? fp32FromBytes(raw) : Float32Array.from(flatten(o.data, o.name) as number[]),
      };
    return {
      ...o,
      datatype: 'BYTES',
      data: raw
        ? deserializeBytes(raw, `output '${o.name}'`)
        : (flatten(o.data, o.name) as string[]).map((s) => Buffer.from(s, 'base64')),
    };
  });
  return { ...header, outputs };
}
