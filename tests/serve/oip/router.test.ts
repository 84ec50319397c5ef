/**
 * The Open Inference Protocol (KServe v2) routes end to end: requests built byte for byte as
 * tritonclient.http builds them (tests/helpers/tritonclient.ts), sent with no Content-Type over a
 * real socket, answers read as its InferResult reads them; outputs checked against /translate and
 * against onnxruntime run on the model file; every error case answered 4xx with {"error"}; and
 * openapi.yaml's /v2 examples and statuses checked against what the server really answers.
 */
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import YAML from 'yaml';
import { createApp, OPENAPI_FILE } from '../../../serve/app';
import { loadConfig, type Config } from '../../../serve/config';
import { InferenceThread } from '../../../inference/inferenceThread';
import { ModelRepository } from '../../../serve/modelRepository';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../../helpers/tinyModel';
import {
  buildTritonRequest,
  parseTritonResult,
  postRaw,
  type RawResponse,
  type TritonRequest,
} from '../../helpers/tritonclient';

const silent = pino({ level: 'silent' });
const BUNDLED = path.join(__dirname, '..', '..', '..', 'models');

interface Running {
  config: Config;
  repo: ModelRepository;
  server: Server;
  base: string;
}
const running: Running[] = [];

async function start(modelsDir: string, overrides: Partial<Config> = {}): Promise<Running> {
  const config = loadConfig(
    {},
    { MODELS_DIR: modelsDir, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent', ...overrides },
  );
  const repo = new ModelRepository(config, silent);
  await repo.load();
  const server = createApp(config, repo, { logger: silent }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const r = { config, repo, server, base: `http://127.0.0.1:${port}` };
  running.push(r);
  return r;
}

/** Statuses seen per documented /v2 operation, and every {"error"} body answered. */
const seen = new Set<string>();
const errors: { error: string }[] = [];
function note(method: string, route: string, status: number, body: unknown): void {
  const r = route
    .replace(/^\/v2\/models\/[^/]+\/versions\/[^/]+/, '/v2/models/{model}/versions/{version}')
    .replace(/^\/v2\/models\/[^/]+/, '/v2/models/{model}');
  seen.add(`${method} ${r} ${status}`);
  if (status >= 400) errors.push(body as { error: string });
}

async function get(s: Running, route: string): Promise<request.Response> {
  const res = await request(s.server).get(route);
  note('get', route, res.status, res.body);
  return res;
}

/** A raw POST to an infer route, noted for the documentation checks. */
async function post(s: Running, route: string, body: Buffer, headers: Record<string, string> = {}) {
  const res = await postRaw(s.base, route, body, headers);
  let parsed: unknown = null;
  if (res.status >= 400) {
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    parsed = JSON.parse(res.body.toString('utf8'));
    expect(Object.keys(parsed as object)).toEqual(['error']);
    expect(typeof (parsed as { error: unknown }).error).toBe('string');
  }
  note('post', route, res.status, parsed);
  return res;
}

async function infer(s: Running, model: string, r: TritonRequest): Promise<RawResponse> {
  const { body, headers } = buildTritonRequest(r);
  return post(s, `/v2/models/${model}/infer`, body, headers);
}

/** A 4xx with {"error"} matching `message`. */
function expectError(res: RawResponse, status: number, message: RegExp): void {
  const text = res.body.toString('utf8');
  expect([res.status, text]).toEqual([status, expect.stringMatching(message)]);
  expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/);
  expect(text).not.toMatch(/\/(tmp|work|home|usr)\//);
}

async function translate(s: Running, model: string, dir: string, img: Buffer, query = ''): Promise<Buffer> {
  const res = await request(s.server)
    .post(`/translate?model=${model}&dir=${dir}${query}`)
    .set('Content-Type', 'image/png')
    .send(img);
  expect(res.status).toBe(200);
  return res.body as Buffer;
}

function image(values: Buffer[], binary: boolean): TritonRequest['inputs'][number] {
  return binary
    ? { name: 'image', shape: [values.length], datatype: 'BYTES', values, binary }
    : {
        name: 'image',
        shape: [values.length],
        datatype: 'BYTES',
        values: values.map((v) => v.toString('base64')),
        binary,
      };
}

function tensor(values: Float32Array, shape: number[], binary: boolean): TritonRequest['inputs'][number] {
  return { name: 'input', shape, datatype: 'FP32', values, binary };
}

function noise(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return (x / 2 ** 31) * 2 - 1;
  });
}

let models: TinyRepo;
let main: Running;
let bundled: Running;
let photo: Buffer;

beforeAll(async () => {
  models = await createTinyModelRepo([
    { name: 'tiny', tiling: true },
    { name: 'gray', inputNc: 1, directions: ['AtoB'], seed: 99 },
  ]);
  main = await start(models.dir);
  bundled = await start(BUNDLED);
  photo = await noiseImage(80, 60, 'png', 1);
});

afterAll(async () => {
  for (const r of running) {
    r.server.closeAllConnections();
    await new Promise((res) => r.server.close(res));
    await r.repo.close();
  }
  await models.cleanup();
});

describe('server and model metadata', () => {
  it('GET /v2, health, model metadata (with -1 for variable dimensions) and readiness', async () => {
    const meta = await get(main, '/v2');
    expect(meta.body).toEqual({ name: 'cyclegan-ts', version: '0.1.0', extensions: ['binary_tensor_data'] });
    expect((await get(main, '/v2/health/live')).body).toEqual({ live: true });
    expect((await get(main, '/v2/health/ready')).body).toEqual({ ready: true });
    const gray = await get(main, '/v2/models/gray_AtoB');
    expect(gray.body).toEqual({
      name: 'gray_AtoB',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [-1, 1, -1, -1] },
        { name: 'image', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [
        { name: 'output', datatype: 'FP32', shape: [-1, 1, -1, -1] },
        { name: 'image', datatype: 'BYTES', shape: [-1] },
      ],
    });
    expect((await get(main, '/v2/models/tiny_BtoA/versions/1')).body.name).toBe('tiny_BtoA');
    expect((await get(main, '/v2/models/tiny_AtoB/ready')).body).toEqual({ name: 'tiny_AtoB', ready: true });
    expect((await get(main, '/v2/models/tiny_AtoB/versions/1/ready')).status).toBe(200);
    for (const route of [
      '/v2/models/gray_BtoA',
      '/v2/models/tiny',
      '/v2/models/nope/ready',
      '/v2/models/x/versions/1/ready',
    ]) {
      const res = await get(main, route);
      expect([res.status, res.body.error]).toEqual([
        404,
        expect.stringMatching(/no model named .*gray_AtoB, tiny_AtoB, tiny_BtoA/),
      ]);
    }
    const v2 = await get(main, '/v2/models/tiny_AtoB/versions/2');
    expect(v2.body).toEqual({ error: "model 'tiny_AtoB' has no version '2' (versions: 1)" });
    expect((await get(main, '/v2/nothing')).body.error).toMatch(/not found|no route/);
  });

  it('readiness is 503 while shutting down (as /readyz)', async () => {
    const s = await start(models.dir);
    const lifecycleApp = createApp(s.config, s.repo, { logger: silent, lifecycle: { draining: true } });
    const res = await request(lifecycleApp).get('/v2/health/ready');
    expect([res.status, res.body]).toEqual([503, { ready: false, error: 'the server is shutting down' }]);
    note('get', '/v2/health/ready', res.status, null);
    const model = await request(lifecycleApp).get('/v2/models/tiny_AtoB/ready');
    expect([model.status, model.body]).toEqual([503, { name: 'tiny_AtoB', ready: false }]);
    note('get', '/v2/models/tiny_AtoB/ready', model.status, null);
  });
});

describe('the image form', () => {
  it('tritonclient binary request (no Content-Type) answers the bytes /translate answers, for each option', async () => {
    for (const [params, query] of [
      [{}, ''],
      [{ size: 'original', format: 'jpeg' }, '&size=original&format=jpeg'],
      [{ size: 48, fit: 'model', format: 'webp' }, '&size=48&fit=model&format=webp'],
      [{ size: 160, tile: 96 }, '&size=160&tile=96'],
    ] as const) {
      const res = await infer(main, 'tiny_BtoA', { inputs: [image([photo], true)], parameters: params });
      expect([res.status, res.status === 200 ? '' : res.body.toString()]).toEqual([200, '']);
      expect(res.headers['content-type']).toBe('application/octet-stream');
      const { json, outputs } = parseTritonResult(res);
      expect(json).toMatchObject({ model_name: 'tiny_BtoA', model_version: '1' });
      expect(outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([['image', 'BYTES', [1]]]);
      const expected = await translate(main, 'tiny', 'BtoA', photo, query);
      expect((outputs[0].values as Buffer[])[0].equals(expected)).toBe(true);
    }
  });

  it('tritonclient JSON request (binary_data=False, base64 strings) and JSON output; N images in one request', async () => {
    const second = await noiseImage(50, 70, 'jpeg', 5);
    const res = await infer(main, 'tiny_AtoB', {
      id: 'req-7',
      inputs: [image([photo, second], false)],
      outputs: [{ name: 'image', binary: false }],
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['inference-header-content-length']).toBeUndefined();
    const { json, outputs } = parseTritonResult(res);
    expect(json.id).toBe('req-7');
    expect(outputs[0].shape).toEqual([2]);
    const [a, b] = outputs[0].values as Buffer[];
    expect(a.equals(await translate(main, 'tiny', 'AtoB', photo))).toBe(true);
    expect(b.equals(await translate(main, 'tiny', 'AtoB', second, '&format=png'))).toBe(true);
    // A binary input with a JSON output, and a JSON input with a binary output, mix as asked.
    const mixed = await infer(main, 'tiny_AtoB', {
      inputs: [image([photo], false)],
      outputs: [{ name: 'image', binary: true }],
    });
    expect(mixed.headers['inference-header-content-length']).toBeDefined();
    expect((parseTritonResult(mixed).outputs[0].values as Buffer[])[0].equals(a)).toBe(true);
  });

  it('a gzip-compressed request (tritonclient request_compression_algorithm) is inflated', async () => {
    const { body, headers } = buildTritonRequest({ inputs: [image([photo], true)] });
    const res = await post(main, '/v2/models/tiny_AtoB/infer', gzipSync(body), {
      ...headers,
      'Content-Encoding': 'gzip',
    });
    expect(res.status).toBe(200);
    const expected = await translate(main, 'tiny', 'AtoB', photo);
    expect((parseTritonResult(res).outputs[0].values as Buffer[])[0].equals(expected)).toBe(true);
  });

  it('Content-Type application/octet-stream and application/json are taken too', async () => {
    const { body, headers } = buildTritonRequest({ inputs: [image([photo], true)] });
    const res = await post(main, '/v2/models/tiny_AtoB/infer', body, {
      ...headers,
      'Content-Type': 'application/octet-stream',
    });
    expect(res.status).toBe(200);
    const json = buildTritonRequest({ inputs: [image([photo], false)] });
    const res2 = await post(main, '/v2/models/tiny_AtoB/infer', json.body, { 'Content-Type': 'application/json' });
    expect(res2.status).toBe(200);
    expect(
      (parseTritonResult(res).outputs[0].values as Buffer[])[0].equals(
        (parseTritonResult(res2).outputs[0].values as Buffer[])[0],
      ),
    ).toBe(true);
  });
});

describe('the tensor form', () => {
  let thread: InferenceThread;
  beforeAll(async () => {
    // onnxruntime on the model file, in a session of our own (in a worker: onnxruntime-node's
    // tensors fail the jest sandbox's Float32Array checks).
    thread = new InferenceThread({ ortLogLevel: 'fatal' });
    await thread.load({
      files: { AtoB: path.join(models.dir, 'tiny', 'AtoB.onnx'), gray: path.join(models.dir, 'gray', 'AtoB.onnx') },
      inputName: 'input',
      outputName: 'output',
      providers: ['cpu'],
      settings: { intraOpThreads: 1, interOpThreads: 1, graphOptimization: 'all', cpuMemArena: true, memPattern: true },
      warmup: { AtoB: [1, 3, 32, 32], gray: [1, 1, 16, 16] },
    });
  });
  afterAll(() => thread.close());

  it('FP32 [N,3,H,W] in, binary and JSON, equals the ONNX generator run directly', async () => {
    const x = noise(2 * 3 * 24 * 40, 3);
    const direct = await thread.run('AtoB', x.slice(), [2, 3, 24, 40]);
    for (const binary of [true, false]) {
      const res = await infer(main, 'tiny_AtoB', {
        inputs: [tensor(x, [2, 3, 24, 40], binary)],
        outputs: [{ name: 'output', binary }],
      });
      expect(res.status).toBe(200);
      const out = parseTritonResult(res).outputs[0];
      expect([out.name, out.datatype, out.shape]).toEqual(['output', 'FP32', [2, 3, 24, 40]]);
      const got = out.values as Float32Array;
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - direct.data[i]));
      expect(maxDiff).toBeLessThanOrEqual(1e-6);
      expect(got.length).toBe(direct.data.length);
    }
    const g = noise(16 * 16, 9);
    const res = await infer(main, 'gray_AtoB', { inputs: [tensor(g, [1, 1, 16, 16], true)] });
    const out = parseTritonResult(res).outputs[0].values as Float32Array;
    const want = (await thread.run('gray', g.slice(), [1, 1, 16, 16])).data;
    expect(Math.max(...out.map((v, i) => Math.abs(v - want[i])))).toBeLessThanOrEqual(1e-6);
  });

  it('goes through the batcher with /translate traffic and is counted in the metrics', async () => {
    const s = await start(models.dir, { MAX_BATCH: 4, MAX_BATCH_DELAY_MS: 3000 });
    const x = noise(2 * 3 * 32 * 32, 4);
    const t0 = Date.now();
    // Two samples of one OIP request + two /translate images at the native 32×32: one batch of 4.
    const [oip, ...translated] = await Promise.all([
      infer(s, 'tiny_AtoB', { inputs: [tensor(x, [2, 3, 32, 32], true)] }),
      request(s.server).post('/translate?model=tiny').set('Content-Type', 'image/png').send(photo),
      request(s.server).post('/translate?model=tiny').set('Content-Type', 'image/png').send(photo),
    ]);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(oip.status).toBe(200);
    expect(translated.map((r) => r.headers['x-batch-size'])).toEqual(['4', '4']);
    const metrics = (await request(s.server).get('/metrics')).text;
    expect(metrics).toMatch(/inference_batch_size_sum\{model="tiny",direction="AtoB"\} 4\n/);
    expect(metrics).toMatch(
      /http_requests_total\{route="\/v2\/models\/\{model\}\/infer",method="POST",status="200"\} 1\n/,
    );
    expect(metrics).toMatch(/translate_stage_duration_seconds_count\{stage="inference",model="tiny"\} 3\n/);
    expect(metrics).toMatch(/inference_requests_in_flight 0\n/);
  });
});

describe('errors: 4xx with {"error"}, never 5xx for bad input', () => {
  const x = noise(3 * 16 * 16, 1);
  it('datatype, shape and data length', async () => {
    const cases: [TritonRequest, number, RegExp][] = [
      [
        { inputs: [{ ...tensor(x, [1, 3, 16, 16], false), datatype: 'BYTES', values: ['AAAA'] }] },
        400,
        /has datatype FP32, got BYTES/,
      ],
      [
        { inputs: [tensor(x, [1, 3, 16, 16 * 4], false)] },
        400,
        /shape \[1,3,16,64\] has 3072 element\(s\), data has 768/,
      ],
      [{ inputs: [tensor(x, [3, 16, 16], true)] }, 400, /must have shape \[N, 3, H, W\]/],
      [{ inputs: [tensor(x, [1, 1, 16, 48], true)] }, 400, /must have shape \[N, 3, H, W\]/],
      [{ inputs: [tensor(x.subarray(0, 3 * 15 * 16), [1, 3, 15, 16], true)] }, 400, /multiples of 4/],
      [{ inputs: [tensor(x.subarray(0, 48), [1, 3, 4, 4], true)] }, 400, /cannot run on \[1,3,4,4\]/],
      [{ inputs: [tensor(x, [1, 3, 16, 16], true), image([photo], true)] }, 400, /exactly one input/],
      [
        { inputs: [{ ...tensor(x, [1, 3, 16, 16], true), name: 'pixels' }] },
        400,
        /unknown input 'pixels' \(inputs: input, image\)|inputs\[0\]\.name must be one of input, image, got 'pixels'/,
      ],
      [
        { inputs: [tensor(x, [1, 3, 16, 16], true)], outputs: [{ name: 'image', binary: true }] },
        400,
        /output 'image' comes from input 'image'/,
      ],
      [{ inputs: [image([photo], true)], parameters: { size: 'huge' } }, 400, /parameters\/size|parameters\.size/],
      [
        { inputs: [image([photo], true)], parameters: { format: 'gif' } },
        400,
        /parameters\.format must be one of png, jpeg, webp, got 'gif'/,
      ],
      [{ inputs: [image([photo], false)], parameters: { tile: 3 } }, 400, /tile/],
    ];
    for (const [req, status, message] of cases) expectError(await infer(main, 'tiny_AtoB', req), status, message);
    const nan = Float32Array.from(x);
    nan[5] = NaN;
    expectError(
      await infer(main, 'tiny_AtoB', { inputs: [tensor(nan, [1, 3, 16, 16], true)] }),
      400,
      /element 5 is not a finite number/,
    );
    const notBase64 = { inputs: [{ ...image([photo], false), values: ['%%%'] }] } as TritonRequest;
    expectError(await infer(main, 'tiny_AtoB', notBase64), 400, /element 0 is not a base64 string/);
  });

  it('binary framing: truncated data, header length past the body, extra bytes, a bad BYTES length', async () => {
    const { body, headers } = buildTritonRequest({ inputs: [tensor(x, [1, 3, 16, 16], true)] });
    const route = '/v2/models/tiny_AtoB/infer';
    expectError(
      await post(main, route, body.subarray(0, body.length - 10), headers),
      400,
      /binary_data_size 3072 runs past the end of the body \(3062 bytes left\): truncated/,
    );
    expectError(
      await post(main, route, body, { 'Inference-Header-Content-Length': String(body.length + 1) }),
      400,
      /Inference-Header-Content-Length is \d+ but the body has only \d+ bytes/,
    );
    expectError(
      await post(main, route, body, { 'Inference-Header-Content-Length': 'abc' }),
      400,
      /Inference-Header-Content-Length/,
    );
    expectError(
      await post(main, route, Buffer.concat([body, Buffer.alloc(8)]), headers),
      400,
      /8 byte\(s\) after the tensors/,
    );
    const hl = Number(headers['Inference-Header-Content-Length']);
    expectError(
      await post(main, route, Buffer.concat([body.subarray(0, hl - 5), body.subarray(hl)]), {
        'Inference-Header-Content-Length': String(hl - 5),
      }),
      400,
      /not valid JSON/,
    );
    // A BYTES element whose 4-byte length claims more than the tensor's binary_data_size holds.
    const img = buildTritonRequest({ inputs: [image([photo], true)] });
    const ihl = Number(img.headers['Inference-Header-Content-Length']);
    const broken = Buffer.from(img.body);
    broken.writeUInt32LE(photo.length + 1, ihl);
    expectError(await post(main, route, broken, img.headers), 400, /element 0 claims \d+ bytes, only \d+ remain/);
    // FP32 data whose size is not the shape's.
    const short = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1, 3, 16, 16], datatype: 'FP32', parameters: { binary_data_size: 8 } }],
      }),
    );
    expectError(
      await post(main, route, Buffer.concat([short, Buffer.alloc(8)]), {
        'Inference-Header-Content-Length': String(short.length),
      }),
      400,
      /needs 3072 bytes of FP32, binary_data_size is 8/,
    );
    expectError(await post(main, route, Buffer.from('{"inputs": [')), 400, /not valid JSON/);
    expectError(await post(main, route, Buffer.from('{"inputs": []}')), 400, /inputs/);
    expectError(await post(main, route, Buffer.alloc(0)), 400, /empty body/);
    expectError(
      await post(main, route, Buffer.from('hello'), { 'Content-Type': 'text/plain' }),
      415,
      /Content-Type text\/plain/,
    );
  });

  it('unknown model or version, undecodable image, pixel limits', async () => {
    expectError(
      await infer(main, 'horse2zebra_AtoB', { inputs: [image([photo], true)] }),
      404,
      /no model named 'horse2zebra_AtoB'/,
    );
    const { body, headers } = buildTritonRequest({ inputs: [image([photo], true)] });
    expectError(await post(main, '/v2/models/tiny_AtoB/versions/3/infer', body, headers), 404, /no version '3'/);
    expect((await post(main, '/v2/models/tiny_AtoB/versions/1/infer', body, headers)).status).toBe(200);
    expectError(
      await post(main, '/v2/models/tiny_AtoB/versions/1/infer', body.subarray(0, 20), headers),
      400,
      /Inference-Header-Content-Length/,
    );
    expectError(
      await infer(main, 'tiny_AtoB', { inputs: [image([Buffer.from('not an image at all')], true)] }),
      415,
      /not a decodable image/,
    );
    expectError(
      await infer(main, 'tiny_AtoB', { inputs: [image([photo, Buffer.alloc(0)], true)] }),
      400,
      /element 1 is empty/,
    );
    const s = await start(models.dir, { MAX_PIXELS: 1000, MAX_INPUT_PIXELS: 4000 });
    expectError(
      await infer(s, 'tiny_AtoB', { inputs: [tensor(noise(3 * 32 * 32, 2), [1, 3, 32, 32], true)] }),
      422,
      /32x32 = 1024 pixels, more than the limit of 1000 \(the server's MAX_PIXELS setting\)/,
    );
    expectError(await infer(s, 'tiny_AtoB', { inputs: [image([photo], true)] }), 422, /MAX_INPUT_PIXELS/);
  });

  it('413 over MAX_UPLOAD_BYTES, 401 without the API key, 503 when the queue is full', async () => {
    const small = await start(models.dir, { MAX_UPLOAD_BYTES: 2000 });
    const big = buildTritonRequest({ inputs: [tensor(noise(3 * 32 * 32, 1), [1, 3, 32, 32], true)] });
    expectError(
      await post(small, '/v2/models/tiny_AtoB/infer', big.body, big.headers),
      413,
      /larger than the upload limit/,
    );

    const keyed = await start(models.dir, { API_KEY: 'secret-key-123' });
    const req = buildTritonRequest({ inputs: [image([photo], true)] });
    const denied = await post(keyed, '/v2/models/tiny_AtoB/infer', req.body, req.headers);
    expectError(denied, 401, /needs an API key/);
    expect(denied.headers['www-authenticate']).toBe('Bearer');
    const allowed = await post(keyed, '/v2/models/tiny_AtoB/infer', req.body, {
      ...req.headers,
      Authorization: 'Bearer secret-key-123',
    });
    expect(allowed.status).toBe(200);

    const busy = await start(models.dir, { MAX_BATCH: 8, MAX_BATCH_DELAY_MS: 1500, MAX_QUEUE: 2 });
    const x = noise(3 * 16 * 16, 8);
    const results = await Promise.all(
      [1, 2, 3].map(() => infer(busy, 'tiny_AtoB', { inputs: [tensor(x, [1, 3, 16, 16], true)] })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 503]);
    const refused = results.find((r) => r.status === 503)!;
    expectError(refused, 503, /busy: queue full \(2 requests waiting\)/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // N samples past the queue's room: the request is refused and its queued samples withdrawn.
    const many = await infer(busy, 'tiny_AtoB', { inputs: [tensor(noise(4 * 3 * 16 * 16, 3), [4, 3, 16, 16], true)] });
    expectError(many, 503, /queue full/);
    await new Promise((r) => setTimeout(r, 50));
    expect(busy.repo.get('tiny')!.batcher.depth).toBe(0);
  });
});

describe('deadlines: infer is priced as /translate (inference/costModel.ts)', () => {
  it('an image or tensors priced past REQUEST_TIMEOUT_MS are refused at once (422 naming it); behind the queue, 503', async () => {
    const s = await start(models.dir, { REQUEST_TIMEOUT_MS: 2000, MAX_BATCH: 1 });
    const model = s.repo.get('tiny')!;
    let runs = 0;
    const real = model.infer;
    model.infer = async (...a) => {
      runs++;
      await new Promise((r) => setTimeout(r, 1200));
      return real(...a);
    };
    // Runs of 4096-8191 pixels (the 80×60 photo, a 64×64 tensor) cost 1 ms per pixel.
    for (let i = 0; i < 50; i++) model.prices.observe('AtoB', 'plain', 4096, 1, 4096);
    const t0 = Date.now();
    const photoReq = { inputs: [image([photo], true)], parameters: { size: 'original' } };
    expectError(
      await infer(s, 'tiny_AtoB', photoReq),
      422,
      /at 80x60 on cpu would take about 4\.8 s, more than its deadline allows: size=\d+ or smaller fits \(the server's REQUEST_TIMEOUT_MS setting is 2000 ms/,
    );
    const x = noise(3 * 64 * 64, 2);
    expectError(
      await infer(s, 'tiny_AtoB', { inputs: [tensor(x, [1, 3, 64, 64], true)] }),
      422,
      /running 1 input\(s\) of 64x64 on cpu would take about 4\.1 s, more than its deadline allows: smaller inputs would \(the server's REQUEST_TIMEOUT_MS/,
    );
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(runs).toBe(0);
    // Three 16×16 tensors fit alone (1.5 s), not behind a running one (0.5 s).
    for (let i = 0; i < 50; i++) model.prices.observe('AtoB', 'plain', 256, 1, 256 * 2);
    const y = noise(3 * 3 * 16 * 16, 3);
    const first = infer(s, 'tiny_AtoB', { inputs: [tensor(y.subarray(0, 3 * 16 * 16), [1, 3, 16, 16], true)] });
    while (model.batcher.inFlight === 0) await new Promise((r) => setTimeout(r, 10));
    const busy = await infer(s, 'tiny_AtoB', { inputs: [tensor(y, [3, 3, 16, 16], true)] });
    expectError(
      busy,
      503,
      /busy: the work queued ahead \(about 0\.5 s\) and running 3 input\(s\) of 16x16 on cpu \(about 1\.5 s\)/,
    );
    expect(Number(busy.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await first).status).toBe(200);
  }, 120_000);
});

describe('openapi.yaml documents the /v2 routes with real examples', () => {
  const doc = () => fs.readFile(OPENAPI_FILE, 'utf8').then((t) => YAML.parse(t));

  it('each request example, sent to the bundled model, answers what its response example shows', async () => {
    const d = await doc();
    const reqs = d.components.requestBodies.InferenceRequest.content['application/json'].examples;
    const resps = d.components.responses.InferenceResponse.content['application/json'].examples;
    expect(Object.keys(reqs).sort()).toEqual(['image', 'tensor']);
    for (const name of Object.keys(reqs)) {
      const res = await post(
        bundled,
        '/v2/models/twemoji2noto_AtoB/infer',
        Buffer.from(JSON.stringify(reqs[name].value)),
        {
          'Content-Type': 'application/json',
        },
      );
      expect([res.status, res.status === 200 ? '' : res.body.toString()]).toEqual([200, '']);
      const got = JSON.parse(res.body.toString('utf8'));
      const want = resps[name].value;
      expect({ ...got, outputs: undefined }).toEqual({ ...want, outputs: undefined });
      const [g, w] = [got.outputs[0], want.outputs[0]];
      expect([g.name, g.datatype, g.shape]).toEqual([w.name, w.datatype, w.shape]);
      if (w.datatype === 'FP32') {
        // Other CPUs may round differently in the last bits.
        w.data.forEach((v: number, i: number) => expect(Math.abs(g.data[i] - v)).toBeLessThan(1e-4));
      } else {
        const [a, b] = await Promise.all(
          [g.data[0], w.data[0]].map((s: string) =>
            sharp(Buffer.from(s, 'base64')).raw().toBuffer({ resolveWithObject: true }),
          ),
        );
        expect(a.info).toEqual(b.info);
        a.data.forEach((v, i) => expect(Math.abs(v - b.data[i])).toBeLessThanOrEqual(1));
      }
    }
    const meta = await get(bundled, '/v2/models/twemoji2noto_AtoB');
    expect(meta.body).toEqual(d.components.responses.OipModelMetadata.content['application/json'].example);
    expect((await get(bundled, '/v2')).body).toEqual(
      d.paths['/v2'].get.responses['200'].content['application/json'].example,
    );
  });

  it('every error example is a body the server really answered, and every documented /v2 status was produced', async () => {
    // Errors only the bundled server's model list gives.
    const b = buildTritonRequest({ inputs: [image([photo], true)] });
    expectError(await post(bundled, '/v2/models/horse2zebra_AtoB/infer', b.body, b.headers), 404, /horse2zebra/);
    if (process.env.DUMP_OIP_ERRORS) await fs.writeFile(process.env.DUMP_OIP_ERRORS, JSON.stringify(errors, null, 2));
    const d = await doc();
    const missing: string[] = [];
    const unanswered: string[] = [];
    for (const [route, item] of Object.entries<Record<string, { responses: Record<string, { $ref?: string }> }>>(
      d.paths,
    )) {
      if (!route.startsWith('/v2')) continue;
      for (const [method, op] of Object.entries(item))
        for (const [status, r] of Object.entries(op.responses)) {
          if (!seen.has(`${method} ${route} ${status}`)) missing.push(`${method.toUpperCase()} ${route} → ${status}`);
          if (!r.$ref || Number(status) < 400) continue;
          const examples = d.components.responses[r.$ref.split('/').pop()!].content['application/json'].examples;
          expect([r.$ref, Object.keys(examples).length > 0]).toEqual([r.$ref, true]);
          for (const [name, { value }] of Object.entries<{ value: unknown }>(examples))
            if (!errors.some((e) => JSON.stringify(e) === JSON.stringify(value))) unanswered.push(name);
        }
    }
    expect(missing).toEqual([]);
    expect(unanswered).toEqual([]);
  });
});
