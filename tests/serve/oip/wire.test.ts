/** The OIP wire format: BYTES framing, FP32 bytes, the JSON/binary split, input decoding and response encoding. */
import { HttpProblem } from '../../../serve/problem';
import {
  decodeInputs,
  decodeResponse,
  deserializeBytes,
  encodeResponse,
  fp32FromBytes,
  fp32ToBytes,
  serializeBytes,
  splitBinaryBody,
} from '../../../serve/oip/wire';

const EXPECTED = { input: 'FP32', image: 'BYTES' } as const;

function problem(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HttpProblem);
    expect((e as HttpProblem).status).toBe(400);
    return (e as HttpProblem).message;
  }
  throw new Error('expected a 400');
}

it('BYTES elements are a 4-byte little-endian length and the bytes; FP32 is little-endian', () => {
  const framed = serializeBytes([Buffer.from('ab'), Buffer.alloc(0), Buffer.from([1, 2, 3])]);
  expect([...framed]).toEqual([2, 0, 0, 0, 97, 98, 0, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3]);
  expect(deserializeBytes(framed, 't').map((b) => [...b])).toEqual([[97, 98], [], [1, 2, 3]]);
  expect(problem(() => deserializeBytes(framed.subarray(0, 16), 't'))).toMatch(
    /element 2 claims 3 bytes, only 2 remain/,
  );
  expect(problem(() => deserializeBytes(framed.subarray(0, 12), 't'))).toMatch(/length is cut off/);
  const values = Float32Array.of(1, -0.5, 3.25e-8);
  expect([...fp32ToBytes(values).subarray(0, 4)]).toEqual([0, 0, 0x80, 0x3f]);
  // An odd offset inside a body (not 4-byte aligned) reads the same.
  const body = Buffer.concat([Buffer.from([9]), fp32ToBytes(values)]);
  expect(fp32FromBytes(body.subarray(1))).toEqual(values);
});

it('decodes JSON (flat or nested) and binary inputs, and refuses what does not add up', () => {
  const nested = decodeInputs(
    {
      inputs: [
        {
          name: 'input',
          shape: [1, 1, 2, 2],
          datatype: 'FP32',
          data: [
            [
              [
                [1, 2],
                [3, 4],
              ],
            ],
          ],
        },
      ],
    },
    null,
    EXPECTED,
  );
  expect(nested[0].data).toEqual(Float32Array.of(1, 2, 3, 4));
  const bin = Buffer.concat([fp32ToBytes(Float32Array.of(5, 6)), serializeBytes([Buffer.from('png')])]);
  const both = decodeInputs(
    {
      inputs: [
        { name: 'input', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
        { name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 7 } },
      ],
    },
    bin,
    EXPECTED,
  );
  expect(both.map((t) => t.data)).toEqual([Float32Array.of(5, 6), [Buffer.from('png')]]);
  const req = (t: object) => ({ inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', ...t }] });
  expect(problem(() => decodeInputs(req({ data: [1, 2, 3] }), null, EXPECTED))).toMatch(/2 element\(s\), data has 3/);
  expect(problem(() => decodeInputs(req({ data: [1, 'x'] }), null, EXPECTED))).toMatch(/element 1 is not a number/);
  expect(problem(() => decodeInputs(req({}), null, EXPECTED))).toMatch(/neither data nor/);
  expect(problem(() => decodeInputs(req({ shape: [1, -2], data: [] }), null, EXPECTED))).toMatch(/not an integer >= 0/);
  expect(problem(() => decodeInputs(req({ parameters: { binary_data_size: 8 } }), null, EXPECTED))).toMatch(
    /no Inference-Header-Content-Length/,
  );
  expect(problem(() => decodeInputs(req({ parameters: { binary_data_size: 8 } }), Buffer.alloc(4), EXPECTED))).toMatch(
    /runs past the end of the body \(4 bytes left\)/,
  );
  expect(problem(() => decodeInputs(req({ parameters: { binary_data_size: 4 } }), Buffer.alloc(4), EXPECTED))).toMatch(
    /needs 8 bytes of FP32, binary_data_size is 4/,
  );
  expect(problem(() => decodeInputs(req({ parameters: { binary_data_size: 8 } }), Buffer.alloc(9), EXPECTED))).toMatch(
    /1 byte\(s\) after the tensors/,
  );
  expect(problem(() => decodeInputs(req({ name: 'x', data: [1, 2] }), null, EXPECTED))).toMatch(/unknown input 'x'/);
  expect(problem(() => decodeInputs(req({ datatype: 'FP64', data: [1, 2] }), null, EXPECTED))).toMatch(
    /datatype FP32, got FP64/,
  );
  const image = (data: unknown[]) => ({ inputs: [{ name: 'image', shape: [data.length], datatype: 'BYTES', data }] });
  expect(decodeInputs(image(['cG5n']), null, EXPECTED)[0].data).toEqual([Buffer.from('png')]);
  expect(problem(() => decodeInputs(image(['png!']), null, EXPECTED))).toMatch(/not a base64 string/);
});

it('splits a binary body at Inference-Header-Content-Length', () => {
  const body = Buffer.from('{"inputs":[]}\x01\x02');
  const { header, binary } = splitBinaryBody(body, '13');
  expect(header).toEqual({ inputs: [] });
  expect([...binary]).toEqual([1, 2]);
  expect(problem(() => splitBinaryBody(body, '16'))).toMatch(/is 16 but the body has only 15 bytes/);
  expect(problem(() => splitBinaryBody(body, '-1'))).toMatch(/must be a byte count/);
  expect(problem(() => splitBinaryBody(body, '12'))).toMatch(/not valid JSON/);
});

it('encodes responses as JSON or JSON header + binary outputs, and reads them back', () => {
  const r = {
    model_name: 'm_AtoB',
    outputs: [
      { name: 'output', shape: [1, 2], datatype: 'FP32' as const, data: Float32Array.of(0.1, -2) },
      { name: 'image', shape: [2], datatype: 'BYTES' as const, data: [Buffer.from('a'), Buffer.from('bc')] },
    ],
  };
  const json = encodeResponse(r, () => false);
  expect(json.headerLength).toBeNull();
  expect(JSON.parse(json.body.toString()).outputs[1].data).toEqual(['YQ==', 'YmM=']);
  const bin = encodeResponse(r, (name) => name === 'image');
  const header = JSON.parse(bin.body.subarray(0, bin.headerLength!).toString());
  expect(header.outputs[1]).toEqual({
    name: 'image',
    datatype: 'BYTES',
    shape: [2],
    parameters: { binary_data_size: 11 },
  });
  expect(header.outputs[0].data).toEqual([Math.fround(0.1), -2]);
  expect(bin.body.length).toBe(bin.headerLength! + 11);
  for (const e of [json, bin]) {
    const back = decodeResponse(e.body, e.headerLength === null ? null : String(e.headerLength));
    expect(back.outputs.map((o) => o.data)).toEqual([Float32Array.of(0.1, -2), [Buffer.from('a'), Buffer.from('bc')]]);
  }
});
