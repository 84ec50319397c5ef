/**
 * A small Open Inference Protocol (KServe v2) client: translates one image through
 * POST /v2/models/{model}/infer, as JSON (the image base64 in `data`) or with the binary tensor
 * data extension (the image bytes after the JSON header, the translated image back the same way).
 *
 *   node --import tsx tools/oip_client.ts --input examples/black/deer.png --output out.png
 *   node --import tsx tools/oip_client.ts --form json --model openmoji_BtoA --input a.png --output b.webp --format webp
 *
 * Any OIP client does the same; this one shows the exact bytes (serve/oip/wire.ts holds the format).
 */
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { decodeResponse, HEADER_LENGTH, serializeBytes } from '../serve/oip/wire';

const schema = z
  .object({
    url: field.text().default('http://127.0.0.1:3000').describe('server base URL'),
    model: field.text().default('openmoji_AtoB').describe('OIP model: <model folder>_<direction>'),
    input: field.text().describe('image file to translate'),
    output: field.text().describe('where to write the translated image'),
    form: field.enum(['binary', 'json']).default('binary').describe('binary tensor data extension, or plain JSON'),
    size: field.text().optional().describe('processing size: native, original or a long side (as /translate)'),
    format: field.enum(['png', 'jpeg', 'webp']).optional().describe('output encoding (server default png)'),
    fit: field.enum(['original', 'model']).optional().describe('output at the input size or the processing size'),
    tile: field.text().optional().describe('tiled execution: auto, off or a tile side'),
    api_key: field.text().optional().describe('bearer key, when the server has API_KEY'),
  })
  .strict();

type Options = z.output<typeof schema>;

/** The translated image, or an Error with the server's status and message. */
async function translateImage(o: Options, image: Buffer): Promise<Buffer> {
  const parameters = Object.fromEntries(
    (['size', 'format', 'fit', 'tile'] as const).flatMap((k) => (o[k] === undefined ? [] : [[k, o[k]]])),
  );
  const headers: Record<string, string> = o.api_key ? { Authorization: `Bearer ${o.api_key}` } : {};
  let body: Buffer;
  if (o.form === 'binary') {
    const data = serializeBytes([image]);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: data.length } }],
        outputs: [{ name: 'image', parameters: { binary_data: true } }],
        parameters,
      }),
    );
    body = Buffer.concat([header, data]);
    headers['Inference-Header-Content-Length'] = String(header.length);
  } else {
    body = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [image.toString('base64')] }],
        parameters,
      }),
    );
    headers['Content-Type'] = 'application/json';
  }
  const url = `${o.url.replace(/\/$/, '')}/v2/models/${encodeURIComponent(o.model)}/infer`;
  const res = await fetch(url, { method: 'POST', headers, body: new Uint8Array(body) });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    let message = bytes.toString('utf8');
    try {
      message = (JSON.parse(message) as { error: string }).error;
    } catch {
      // not the protocol's error body: show it as it came
    }
    throw new Error(`${url}: ${res.status} ${message}`);
  }
  const output = decodeResponse(bytes, res.headers.get(HEADER_LENGTH)).outputs.find((t) => t.name === 'image');
  if (output?.datatype !== 'BYTES' || output.data.length !== 1) throw new Error(`${url}: no image in the answer`);
  return output.data[0];
}

runCommand(
  {
    name: 'oip_client',
    program: 'node --import tsx tools/oip_client.ts',
    summary: 'Translate one image through the Open Inference Protocol (KServe v2) route, as JSON or binary.',
    schema,
    env: { api_key: 'API_KEY' },
    placeholders: { url: '<url>', input: '<file>', output: '<file>' },
  },
  async (o) => {
    const image = await fs.readFile(o.input);
    const out = await translateImage(o, image);
    await fs.writeFile(o.output, out);
    console.log(`${o.output}: ${out.length} bytes from ${o.model} (${o.form})`);
  },
);
