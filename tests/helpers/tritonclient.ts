/**
 * Requests built byte for byte as Python's `tritonclient.http` 2.x builds them, and responses read
 * as its `InferResult` reads them, written independently of serve/oip/wire.ts so the two can
 * check each other:
 *  - `InferInput(name, shape, datatype).set_data_from_numpy(array, binary_data)`: with
 *    binary_data=True the tensor's JSON is {"name", "shape", "datatype", "parameters":
 *    {"binary_data_size": n}} and its bytes are `array.tobytes()` (FP32 little-endian) or, for
 *    BYTES, each element as `struct.pack("<I", len)` + bytes (`serialize_byte_tensor`); with
 *    binary_data=False it is {"name", "shape", "datatype", "data": [flat list]}.
 *  - `InferRequestedOutput(name, binary_data)`: {"name", "parameters": {"binary_data": bool}}.
 *  - `_get_inference_request`: {"id"?, "inputs", "outputs"?, "parameters"?} through `json.dumps`
 *    (separators ", " and ": "); with no outputs requested, parameters.binary_data_output = true,
 *    then the custom parameters. When any input is binary, the body is the JSON then every input's
 *    bytes in order, and `Inference-Header-Content-Length` is the JSON's length.
 *  - The request goes out with no Content-Type (geventhttpclient adds none).
 *  - `InferResult`: with `Inference-Header-Content-Length`, the JSON header is that many bytes and
 *    each output with parameters.binary_data_size takes its bytes from the rest, in order.
 */
import * as http from 'node:http';

/** Python's float repr (shortest round-trip, exponent when < 1e-4 or >= 1e16). */
function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 16) {
    const [m, e] = x.toExponential().split('e');
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(x);
}

/** Python `json.dumps(value)` for the values a request holds (floats marked by `floats`). */
export function pyJsonDumps(v: unknown, floats = false): string {
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'number') return floats ? pyFloat(v) : String(v);
  if (typeof v === 'string')
    return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (v instanceof Float32Array) return `[${Array.from(v, pyFloat).join(', ')}]`;
  if (Array.isArray(v)) return `[${v.map((x) => pyJsonDumps(x, floats)).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${JSON.stringify(k)}: ${pyJsonDumps(x, floats)}`)
    .join(', ')}}`;
}

export type TritonInput =
  | { name: string; shape: number[]; datatype: 'FP32'; values: Float32Array; binary: boolean }
  /** BYTES elements; with binary false they must be strings already (tritonclient requires UTF-8). */
  | { name: string; shape: number[]; datatype: 'BYTES'; values: Buffer[] | string[]; binary: boolean };

export interface TritonRequest {
  inputs: TritonInput[];
  outputs?: { name: string; binary: boolean }[];
  id?: string;
  parameters?: Record<string, unknown>;
}

/** The body and headers `InferenceServerClient.infer` sends. */
export function buildTritonRequest(r: TritonRequest): { body: Buffer; headers: Record<string, string> } {
  const tensors: string[] = [];
  const raws: Buffer[] = [];
  for (const t of r.inputs) {
    const head = `"name": ${JSON.stringify(t.name)}, "shape": ${pyJsonDumps(t.shape)}, "datatype": "${t.datatype}"`;
    if (t.binary) {
      let raw: Buffer;
      if (t.datatype === 'FP32') raw = Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength);
      else
        raw = Buffer.concat(
          (t.values as (Buffer | string)[]).flatMap((e) => {
            const b = Buffer.from(e);
            const len = Buffer.alloc(4);
            len.writeUInt32LE(b.length);
            return [len, b];
          }),
        );
      raws.push(raw);
      tensors.push(`{${head}, "parameters": {"binary_data_size": ${raw.length}}}`);
    } else {
      const data = t.datatype === 'FP32' ? pyJsonDumps(t.values) : pyJsonDumps(t.values as string[]);
      tensors.push(`{${head}, "data": ${data}}`);
    }
  }
  let json = '{';
  if (r.id !== undefined) json += `"id": ${JSON.stringify(r.id)}, `;
  json += `"inputs": [${tensors.join(', ')}]`;
  const params: Record<string, unknown> = {};
  if (r.outputs && r.outputs.length > 0)
    json += `, "outputs": [${r.outputs
      .map((o) => `{"name": ${JSON.stringify(o.name)}, "parameters": {"binary_data": ${o.binary}}}`)
      .join(', ')}]`;
  else params.binary_data_output = true;
  Object.assign(params, r.parameters ?? {});
  if (Object.keys(params).length > 0) json += `, "parameters": ${pyJsonDumps(params)}`;
  json += '}';
  const header = Buffer.from(json, 'utf8');
  if (raws.length === 0) return { body: header, headers: {} };
  return {
    body: Buffer.concat([header, ...raws]),
    headers: { 'Inference-Header-Content-Length': String(header.length) },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** POSTs exactly these bytes and headers (plus Host and Content-Length; no Content-Type). */
export function postRaw(
  base: string,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, {
      method: 'POST',
      headers: { 'Content-Length': String(body.length), ...headers },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface TritonOutput {
  name: string;
  datatype: string;
  shape: number[];
  /** FP32 values, or BYTES elements. */
  values: Float32Array | Buffer[];
}

/** `InferResult(response)` then `as_numpy(name)` for every output. */
export function parseTritonResult(res: RawResponse): { json: Record<string, unknown>; outputs: TritonOutput[] } {
  const hl = res.headers['inference-header-content-length'];
  const headerLength = hl === undefined ? res.body.length : Number(hl);
  const json = JSON.parse(res.body.subarray(0, headerLength).toString('utf8'));
  const buffer = res.body.subarray(headerLength);
  let index = 0;
  const outputs = (
    json.outputs as {
      name: string;
      datatype: string;
      shape: number[];
      parameters?: { binary_data_size?: number };
      data?: unknown[];
    }[]
  ).map((o): TritonOutput => {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      const values =
        o.datatype === 'FP32'
          ? Float32Array.from(o.data as number[])
          : (o.data as string[]).map((s) => Buffer.from(s, 'base64'));
      return { name: o.name, datatype: o.datatype, shape: o.shape, values };
    }
    const raw = buffer.subarray(index, index + size);
    index += size;
    if (o.datatype === 'FP32') {
      return { ...o, values: new Float32Array(new Uint8Array(raw).buffer) };
    }
    const elements: Buffer[] = [];
    for (let at = 0; at < raw.length;) {
      const len = raw.readUInt32LE(at);
      elements.push(raw.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    return { name: o.name, datatype: o.datatype, shape: o.shape, values: elements };
  });
  return { json, outputs };
}
