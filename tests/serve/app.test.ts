/**
 * The HTTP API end to end on real onnxruntime sessions (tiny conv+tanh models from
 * tests/helpers/tinyModel.ts), driven by supertest against an ephemeral port.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import YAML from 'yaml';
import { createApp, OPENAPI_FILE } from '../../serve/app';
import type { Lifecycle } from '../../serve/serveContext';
import { loadConfig, type Config } from '../../serve/config';
import { InferenceThread } from '../../inference/inferenceThread';
import { ModelRepository } from '../../serve/modelRepository';
import { encodeImage, fromNchw } from '../../inference/postprocess';
import { preprocessImage } from '../../inference/preprocess';
import type { Model } from '../../inference/model';
import { createTinyModelRepo, noiseImage, writeTinyModel, type TinyRepo } from '../helpers/tinyModel';

const silent = pino({ level: 'silent' });
const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

interface Running {
  config: Config;
  repo: ModelRepository;
  server: Server;
  close(): Promise<void>;
}

const running: Running[] = [];

async function start(
  modelsDir: string,
  overrides: Partial<Config> = {},
  opts: { load?: boolean; logger?: pino.Logger; lifecycle?: Lifecycle } = {},
): Promise<Running> {
  const config = loadConfig(
    {},
    { MODELS_DIR: modelsDir, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent', ...overrides },
  );
  const logger = opts.logger ?? silent;
  const repo = new ModelRepository(config, logger);
  if (opts.load !== false) await repo.load();
  const app = createApp(config, repo, { logger, lifecycle: opts.lifecycle });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const r: Running = {
    config,
    repo,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((res) => server.close(res));
      if (repo.state !== 'loading') await repo.close();
      else for (const m of repo.models.values()) await m.thread.terminate();
    },
  };
  running.push(r);
  return r;
}

/** Statuses seen per documented operation, checked against openapi.yaml at the end. */
const seen = new Set<string>();
/** Every problem+json body the server answered in these tests (openapi.yaml's examples must be among them). */
const problems: Record<string, unknown>[] = [];
function track(res: request.Response): request.Response {
  const req = (res as unknown as { req: { method: string; path: string } }).req;
  let route = req.path.split('?')[0];
  if (route.startsWith('/v1/models/')) route = '/v1/models/{name}';
  seen.add(`${req.method.toLowerCase()} ${route} ${res.status}`);
  if (/^application\/problem\+json/.test(String(res.headers['content-type']))) problems.push(JSON.parse(res.text));
  return res;
}

function expectProblem(res: request.Response, status: number, type: string | RegExp, detail?: RegExp): void {
  track(res);
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text);
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe('string');
  if (typeof type === 'string') expect(body.type).toBe(type);
  else expect(body.type).toMatch(type);
  expect(typeof body.detail).toBe('string');
  if (detail) expect(body.detail).toMatch(detail);
  // Nothing internal leaks: no stack frames, no server paths.
  expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
  expect(res.text).not.toMatch(/\/(tmp|work|home|usr)\//);
}

async function pixels(buf: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** PNG whose header claims width×height, with a stub of pixel data. */
function bombPng(width: number, height: number): Buffer {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    let c = 0xffffffff;
    for (const x of td) c = table[(c ^ x) & 0xff] ^ (c >>> 8);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE((c ^ 0xffffffff) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let models: TinyRepo;
let main: Running;
let photo: Buffer; // 80×60 PNG
let photoJpeg: Buffer;

beforeAll(async () => {
  // `gray` is a folder from before tiled execution (no tiling graphs or entries).
  models = await createTinyModelRepo([
    { name: 'tiny', tiling: true },
    { name: 'gray', inputNc: 1, directions: ['AtoB'], seed: 99 },
  ]);
  main = await start(models.dir, { DEFAULT_MODEL: 'tiny' });
  photo = await noiseImage(80, 60, 'png', 1);
  photoJpeg = await noiseImage(80, 60, 'jpeg', 2);
});

afterAll(async () => {
  for (const r of running) await r.close();
  await models.cleanup();
});

describe('operations endpoints', () => {
  it('GET /healthz and /readyz', async () => {
    const h = track(await request(main.server).get('/healthz'));
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: 'ok' });
    const r = track(await request(main.server).get('/readyz'));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ready', models: ['gray', 'tiny'] });
  });

  it('GET /v1/models and /v1/models/{name}', async () => {
    const list = track(await request(main.server).get('/v1/models'));
    expect(list.status).toBe(200);
    expect(list.body.defaultModel).toBe('tiny');
    expect(list.body.models.map((m: { name: string }) => m.name)).toEqual(['gray', 'tiny']);
    const one = track(await request(main.server).get('/v1/models/gray'));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      name: 'gray',
      directions: ['AtoB'],
      channels: { A: 1, B: 1 },
      sizes: {
        preferred: 32,
        multiple: 4,
        maxPixels: main.config.MAX_PIXELS,
        maxInputPixels: main.config.MAX_INPUT_PIXELS,
      },
      executionProvider: 'cpu',
      maxBatch: 4,
      tiling: { AtoB: { available: false, reason: expect.stringMatching(/before tiled execution/) } },
    });
    const tiny = track(await request(main.server).get('/v1/models/tiny'));
    expect(tiny.body.tiling.BtoA).toMatchObject({ available: true, norm: 'instance', halo: 24 });
    expectProblem(
      await request(main.server).get('/v1/models/nope'),
      404,
      '/problems/unknown-model',
      /'nope'.*gray, tiny/,
    );
    // Names are looked up in the registry only; anything path-like fails validation.
    expectProblem(await request(main.server).get('/v1/models/..%2F..%2Fetc'), 400, '/problems/invalid-request');
  });

  it('GET /openapi.yaml is a valid OpenAPI 3.1 document, and /docs serves Swagger UI for it', async () => {
    const res = track(await request(main.server).get('/openapi.yaml'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    const doc = YAML.parse(res.text);
    expect(doc.openapi).toMatch(/^3\.1\./);
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
    expect(res.text).toBe(await fs.readFile(OPENAPI_FILE, 'utf8'));

    const redirect = await request(main.server).get('/docs');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/docs/');
    const ui = await request(main.server).get('/docs/');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger-ui-bundle.js');
    const init = await request(main.server).get('/docs/swagger-ui-init.js');
    expect(init.text).toContain('"/openapi.yaml"');
  });

  it('GET / serves the demo page with security headers', async () => {
    const res = await request(main.server).get('/');
    expect(res.status).toBe(200);
    expect(res.text).toContain('<script src="app.js"');
    expect(res.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(res.headers['content-security-policy']).toMatch(/img-src 'self' data: blob:/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect((await request(main.server).get('/app.js')).status).toBe(200);
  });

  it('unknown routes and methods are problem+json', async () => {
    expectProblem(await request(main.server).get('/etc/passwd'), 404, 'about:blank');
    expectProblem(await request(main.server).delete('/v1/models'), 405, 'about:blank');
  });
});

describe('POST /translate', () => {
  it('multipart upload returns the image the model computes, at the input size', async () => {
    const res = track(await request(main.server).post('/translate?dir=AtoB').attach('image', photo, 'photo.png'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['x-model']).toBe('tiny');
    expect(res.headers['x-direction']).toBe('AtoB');
    expect(res.headers['x-processing-size']).toBe('32x32');
    expect(Number(res.headers['x-inference-time-ms'])).toBeGreaterThanOrEqual(0);
    expect(res.headers['x-batch-size']).toBe('1');
    expect(res.headers['x-execution-provider']).toBe('cpu');
    for (const stage of ['decode', 'preprocess', 'queue', 'inference', 'encode'])
      expect(res.headers['server-timing']).toMatch(new RegExp(`${stage};dur=\\d`));

    // The same pipeline run by hand, on a session of our own, gives the same pixels. (The session
    // lives in a worker: onnxruntime-node's tensors fail the jest sandbox's Float32Array checks.)
    const thread = new InferenceThread({ ortLogLevel: 'fatal' });
    await thread.load({
      files: { AtoB: path.join(models.dir, 'tiny', 'AtoB.onnx') },
      inputName: 'input',
      outputName: 'output',
      providers: ['cpu'],
      settings: { intraOpThreads: 1, interOpThreads: 1, graphOptimization: 'all', cpuMemArena: true, memPattern: true },
      warmup: { AtoB: [1, 3, 32, 32] },
    });
    const pre = await preprocessImage(photo, {
      channels: 3,
      size: { kind: 'native' },
      preferredSize: 32,
      sizeMultiple: 4,
      ...HALF,
      maxPixels: 1e8,
    });
    const out = await thread.run('AtoB', pre.input.data, pre.input.dims);
    await thread.close();
    expect(out.dims).toEqual([1, 3, 32, 32]);
    const expected = await encodeImage(fromNchw(out.data, out.dims, HALF), { format: 'png', size: pre.original });
    const got = await pixels(res.body);
    expect([got.width, got.height]).toEqual([80, 60]);
    expect(got.data.equals((await pixels(expected)).data)).toBe(true);
    // And the model really changed the picture.
    expect(got.data.equals((await pixels(photo)).data)).toBe(false);
  });

  it('accepts raw image bodies (image/jpeg, application/octet-stream) and both directions', async () => {
    const a = track(
      await request(main.server).post('/translate?dir=BtoA').set('Content-Type', 'image/jpeg').send(photoJpeg),
    );
    expect(a.status).toBe(200);
    expect(a.headers['x-direction']).toBe('BtoA');
    const b = track(
      await request(main.server).post('/translate').set('Content-Type', 'application/octet-stream').send(photo),
    );
    expect(b.status).toBe(200);
    expect(b.headers['x-direction']).toBe('AtoB');
    // Different generators give different images for the same input.
    const c = track(
      await request(main.server).post('/translate?dir=BtoA').set('Content-Type', 'image/png').send(photo),
    );
    expect((await pixels(b.body)).data.equals((await pixels(c.body)).data)).toBe(false);
  });

  it('encodes png, jpeg and webp by format=, else by Accept, else as the input', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const res = track(await request(main.server).post(`/translate?format=${format}`).attach('image', photo, 'p.png'));
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(`image/${format}`);
      expect((await sharp(res.body).metadata()).format).toBe(format);
    }
    const webp = track(
      await request(main.server)
        .post('/translate')
        .set('Accept', 'image/jpeg;q=0.5, image/webp')
        .attach('image', photo, 'p.png'),
    );
    expect(webp.headers['content-type']).toBe('image/webp');
    expect(webp.headers['vary']).toMatch(/Accept/);
    const jpeg = track(
      await request(main.server).post('/translate').set('Accept', 'image/jpeg').attach('image', photo, 'p.png'),
    );
    expect(jpeg.headers['content-type']).toBe('image/jpeg');
    const anything = track(
      await request(main.server).post('/translate').set('Accept', '*/*').attach('image', photo, 'p.png'),
    );
    expect(anything.headers['content-type']).toBe('image/png');
    // An Accept that allows anything, or none: the input's family answers (JPEG in → JPEG out).
    for (const accept of ['*/*', undefined]) {
      const post = request(main.server).post('/translate').set('Content-Type', 'image/jpeg');
      const jpegIn = track(await (accept ? post.set('Accept', accept) : post).send(photoJpeg));
      expect(jpegIn.status).toBe(200);
      expect(jpegIn.headers['content-type']).toBe('image/jpeg');
      expect((await sharp(jpegIn.body).metadata()).format).toBe('jpeg');
    }
    expectProblem(
      await request(main.server).post('/translate').set('Accept', 'application/json').attach('image', photo, 'p.png'),
      406,
      '/problems/not-acceptable',
    );
  });

  it('size=native|N|original and fit=original|model', async () => {
    const odd = await noiseImage(81, 59, 'png', 3);
    const cases: [string, string, [number, number]][] = [
      ['size=native', '32x32', [81, 59]],
      ['size=48', '48x36', [81, 59]],
      ['size=original', '80x60', [81, 59]],
      ['size=48&fit=model', '48x36', [48, 36]],
      ['size=original&fit=model', '80x60', [80, 60]],
      ['fit=model', '32x32', [32, 32]],
    ];
    for (const [query, processing, outSize] of cases) {
      const res = track(await request(main.server).post(`/translate?${query}`).attach('image', odd, 'odd.png'));
      expect(res.status).toBe(200);
      expect(res.headers['x-processing-size']).toBe(processing);
      const meta = await sharp(res.body).metadata();
      expect([meta.width, meta.height]).toEqual(outSize);
    }
  });

  it('serves a grayscale (1-channel) model', async () => {
    const res = track(await request(main.server).post('/translate?model=gray').attach('image', photoJpeg, 'p.jpg'));
    expect(res.status).toBe(200);
    expect(res.headers['x-model']).toBe('gray');
    expect((await sharp(res.body).metadata()).channels).toBe(1);
  });

  it('400 for bad parameters and bodies', async () => {
    const post = (q: string) => request(main.server).post(`/translate${q}`).attach('image', photo, 'p.png');
    expectProblem(await post('?dir=sideways'), 400, '/problems/invalid-request', /dir/);
    expectProblem(await post('?size=0'), 400, '/problems/invalid-request', /size/);
    expectProblem(await post('?size=big'), 400, '/problems/invalid-request', /size/);
    expectProblem(await post('?format=gif'), 400, '/problems/invalid-request', /format/);
    expectProblem(await post('?fit=stretch'), 400, '/problems/invalid-request', /fit/);
    expectProblem(await post('?model=../etc'), 400, '/problems/invalid-request', /model/);
    expectProblem(await post('?colour=blue'), 400, '/problems/invalid-request', /colour/);
    // Words, not the pattern: the accepted forms and range, and what came.
    const words: [string, string][] = [
      ['?size=100000', "size must be native, original or a long side of 1-99999 pixels, got '100000'"],
      ['?dir=sideways', "dir must be one of AtoB, BtoA, got 'sideways'"],
      ['?tile=0', "tile must be auto, off or a tile side of 1-99999 pixels, got '0'"],
      [
        '?model=-x',
        "model must be a model name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got '-x'",
      ],
      ['?colour=blue', "Unknown query parameter 'colour' (query parameters: dir, model, size, format, tile, fit)"],
    ];
    for (const [q, detail] of words) expect([q, track(await post(q)).body.detail]).toEqual([q, detail]);
    expectProblem(
      await request(main.server).post('/translate').attach('photo', photo, 'p.png'),
      400,
      '/problems/invalid-request',
      /field 'image'/,
    );
    expectProblem(await request(main.server).post('/translate').field('note', 'hi'), 400, '/problems/invalid-request');
    expectProblem(
      await request(main.server).post('/translate').set('Content-Type', 'image/png').send(Buffer.alloc(0)),
      400,
      '/problems/invalid-request',
      /no image/,
    );
    // No Content-Type at all (e.g. curl -X POST): not "unsupported media type undefined".
    const bare = await request(main.server).post('/translate');
    expectProblem(bare, 400, '/problems/invalid-request');
    expect(bare.body.detail).toBe("no image: send multipart/form-data with field 'image', or the image as the body");
    const untyped = await request(main.server).post('/translate').set('Content-Type', '').send(photo);
    expectProblem(untyped, 415, '/problems/unsupported-image');
    expect(untyped.body.detail).toBe(
      "no Content-Type header: send multipart/form-data with field 'image', or an image/* body",
    );
    expect(JSON.stringify([bare.body, untyped.body])).not.toMatch(/undefined/);
  });

  it('404 for an unknown model or a direction the model lacks', async () => {
    expectProblem(
      await request(main.server).post('/translate?model=horse2zebra').attach('image', photo, 'p.png'),
      404,
      '/problems/unknown-model',
      /'horse2zebra'/,
    );
    expectProblem(
      await request(main.server).post('/translate?model=gray&dir=BtoA').attach('image', photo, 'p.png'),
      404,
      '/problems/unknown-direction',
      /no BtoA generator/,
    );
  });

  it('415 for non-image content types and for bodies that are not decodable images', async () => {
    expectProblem(
      await request(main.server).post('/translate').set('Content-Type', 'text/plain').send('hello'),
      415,
      '/problems/unsupported-image',
    );
    const text = Buffer.from('this is a text file, not a JPEG');
    expectProblem(
      await request(main.server)
        .post('/translate')
        .attach('image', text, { filename: 'photo.jpg', contentType: 'image/jpeg' }),
      415,
      '/problems/unsupported-image',
      /not a decodable image/,
    );
    const truncated = photoJpeg.subarray(0, Math.floor(photoJpeg.length * 0.6));
    expectProblem(
      await request(main.server).post('/translate').set('Content-Type', 'image/jpeg').send(truncated),
      415,
      '/problems/unsupported-image',
      /could not be decoded/,
    );
  });

  it('422 for inputs over MAX_INPUT_PIXELS or processing sizes over MAX_PIXELS, from the header alone', async () => {
    const t0 = Date.now();
    expectProblem(
      await request(main.server).post('/translate').set('Content-Type', 'image/png').send(bombPng(60_000, 60_000)),
      422,
      '/problems/too-many-pixels',
      /60000x60000.*MAX_INPUT_PIXELS/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    expectProblem(
      await request(main.server).post('/translate?size=20000&fit=model').attach('image', photo, 'p.png'),
      422,
      '/problems/too-many-pixels',
      /processing size 20000x15000.*MAX_PIXELS/,
    );
  });

  it('takes a 24 MP camera photo at size=native with the default limits (the limit is on what is processed)', async () => {
    expect(main.config.MAX_PIXELS).toBeLessThan(6000 * 4000); // the old check on the input would refuse it
    // Made by libvips (a JS loop over 72 MB would dominate the test's time).
    const camera = await sharp({
      create: {
        width: 6000,
        height: 4000,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .jpeg({ quality: 80 })
      .toBuffer();
    const r = track(
      await request(main.server).post('/translate?size=native&fit=model&format=jpeg').attach('image', camera, 'c.jpg'),
    );
    expect(r.status).toBe(200);
    expect(r.headers['x-processing-size']).toBe('32x32');
    // size=original untiled would run the network on all 24 MP: over MAX_PIXELS, refused before
    // decoding. (With tile=auto it runs in tiles: the tiled-execution tests.)
    expectProblem(
      await request(main.server).post('/translate?size=original&tile=off').attach('image', camera, 'c.jpg'),
      422,
      '/problems/too-many-pixels',
      /6000x4000.*MAX_PIXELS/,
    );
  }, 60_000);

  it('500s are problem+json without internals', async () => {
    const model = main.repo.get('gray')!;
    const real = model.infer;
    model.infer = async () => {
      throw new Error('secret failure in /srv/models/gray/AtoB.onnx');
    };
    try {
      const res = await request(main.server).post('/translate?model=gray').attach('image', photo, 'p.png');
      expectProblem(res, 500, 'about:blank', /^internal server error$/);
      expect(res.text).not.toContain('secret');
    } finally {
      model.infer = real;
    }
  });
});

describe('tiled execution', () => {
  it('tile=auto tiles above TILE_PIXELS and matches the untiled image; tile=N and tile=off as asked; old folders say why not', async () => {
    const s = await start(models.dir, { DEFAULT_MODEL: 'tiny', TILE_PIXELS: 4096, TILE_STATS: 'exact' });
    const img = await noiseImage(160, 120, 'png', 7);
    const post = (q: string) => request(s.server).post(`/translate?size=original&${q}`).attach('image', img, 'i.png');
    const off = track(await post('tile=off'));
    expect(off.status).toBe(200);
    expect(off.headers['x-tiles']).toBe('0');
    const auto = track(await post('dir=AtoB'));
    expect(auto.status).toBe(200);
    expect(Number(auto.headers['x-tiles'])).toBeGreaterThan(1);
    expect(auto.headers['x-processing-size']).toBe('160x120');
    // Exact shared statistics: the untiled image within rounding (±1 level).
    const [a, b] = [await pixels(auto.body), await pixels(off.body)];
    expect(Math.max(...a.data.map((v, i) => Math.abs(v - b.data[i])))).toBeLessThanOrEqual(1);
    // auto picked the smallest tile the halo allows (80 px); larger tiles, fewer of them.
    const t96 = Number(track(await post('tile=96')).headers['x-tiles']);
    expect(t96).toBeGreaterThan(0);
    expect(t96).toBeLessThan(Number(auto.headers['x-tiles']));
    expectProblem(track(await post('tile=40')), 400, '/problems/invalid-request', /tiles need at least \d+ px/);
    expectProblem(track(await post('tile=big')), 400, '/problems/invalid-request', /tile/);
    // A folder exported before tiling: auto runs untiled, an explicit tile side is refused.
    const gray = (q: string) =>
      request(s.server).post(`/translate?model=gray&size=original&${q}`).attach('image', img, 'i.png');
    expect(track(await gray('tile=auto')).headers['x-tiles']).toBe('0');
    expectProblem(track(await gray('tile=128')), 400, '/problems/invalid-request', /predates tiled execution/);
  });
});

describe('metrics', () => {
  it('exposes request counts, stage latencies, queue depth, batch sizes and execution providers', async () => {
    track(await request(main.server).post('/translate').attach('image', photo, 'p.png'));
    const res = track(await request(main.server).get('/metrics'));
    expect(res.status).toBe(200);
    const text = res.text;
    expect(text).toMatch(/http_requests_total\{route="\/translate",method="POST",status="200"\} [1-9]/);
    expect(text).toMatch(/http_requests_total\{route="\/translate",method="POST",status="415"\} [1-9]/);
    for (const stage of ['decode', 'preprocess', 'queue', 'inference', 'encode'])
      expect(text).toMatch(
        new RegExp(`translate_stage_duration_seconds_count\\{stage="${stage}",model="tiny"\\} [1-9]`),
      );
    expect(text).toMatch(/inference_queue_depth\{model="tiny"\} 0/);
    expect(text).toMatch(/inference_batch_size_count\{model="tiny",direction="AtoB"\} [1-9]/);
    expect(text).toMatch(/execution_provider_info\{model="tiny",provider="cpu"\} 1/);
    expect(text).toMatch(/models_loaded 2/);
  });
});

describe('batching and backpressure', () => {
  it('runs concurrent requests as one batch, each getting the output it gets alone', async () => {
    const batched = await start(models.dir, { MAX_BATCH: 4, MAX_BATCH_DELAY_MS: 5000 });
    const inputs = await Promise.all([11, 12, 13, 14].map((seed) => noiseImage(40, 40, 'png', seed)));
    const t0 = Date.now();
    const together = await Promise.all(
      inputs.map((img) =>
        request(batched.server).post('/translate?model=tiny&size=original').attach('image', img, 'i.png'),
      ),
    );
    // The batch filled up, so nobody waited for the 5 s delay.
    expect(Date.now() - t0).toBeLessThan(4000);
    for (const res of together) {
      track(res);
      expect(res.status).toBe(200);
      expect(res.headers['x-batch-size']).toBe('4');
    }
    const metrics = (await request(batched.server).get('/metrics')).text;
    expect(metrics).toMatch(/inference_batch_size_count\{model="tiny",direction="AtoB"\} 1\n/);
    expect(metrics).toMatch(/inference_batch_size_sum\{model="tiny",direction="AtoB"\} 4\n/);

    for (const [i, img] of inputs.entries()) {
      const alone = await request(main.server)
        .post('/translate?model=tiny&size=original')
        .attach('image', img, 'i.png');
      expect(alone.headers['x-batch-size']).toBe('1');
      const a = await pixels(alone.body);
      const b = await pixels(together[i].body);
      expect(b.data.equals(a.data)).toBe(true);
    }
    // Distinct inputs gave distinct outputs (no mix-up that happens to look right).
    const outs = await Promise.all(together.map(async (r) => (await pixels(r.body)).data.toString('base64')));
    expect(new Set(outs).size).toBe(4);
  });

  it('503 with Retry-After when the queue is full', async () => {
    const s = await start(models.dir, { MAX_BATCH: 8, MAX_BATCH_DELAY_MS: 1500, MAX_QUEUE: 2 });
    const results = await Promise.all(
      [1, 2, 3].map(() => request(s.server).post('/translate').attach('image', photo, 'p.png')),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503]);
    const rejected = results.find((r) => r.status === 503)!;
    expectProblem(rejected, 503, '/problems/overloaded', /busy: queue full \(2 requests waiting\)/);
    expect(Number(rejected.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('503 with Retry-After when a request exceeds REQUEST_TIMEOUT_MS', async () => {
    const s = await start(models.dir, { MAX_BATCH: 8, MAX_BATCH_DELAY_MS: 3000, REQUEST_TIMEOUT_MS: 300 });
    const t0 = Date.now();
    const res = await request(s.server).post('/translate').attach('image', photo, 'p.png');
    expectProblem(res, 503, '/problems/timeout', /REQUEST_TIMEOUT_MS=300.*waiting in the queue/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(s.repo.get('tiny')!.batcher.depth).toBe(0);
  });
});

describe('deadlines: every request priced before it runs (inference/costModel.ts)', () => {
  /** The model's measured time per pixel for plain runs of about `pixels` (the EWMA converged on it). */
  const price = (model: Model, pixels: number, msPerPixel: number) => {
    for (let i = 0; i < 50; i++) model.prices.observe('AtoB', 'plain', pixels, 1, pixels * msPerPixel);
  };

  it('422 at once, naming REQUEST_TIMEOUT_MS and the size that fits, for work priced past it on an idle server', async () => {
    const s = await start(models.dir, { DEFAULT_MODEL: 'tiny', REQUEST_TIMEOUT_MS: 2000 });
    const model = s.repo.get('tiny')!;
    price(model, 80 * 60, 1); // the 80×60 photo: 4.8 s
    let runs = 0;
    const real = model.infer;
    model.infer = (...a) => (runs++, real(...a));
    const t0 = Date.now();
    const res = await request(s.server).post('/translate?size=original').attach('image', photo, 'p.png');
    expectProblem(res, 422, '/problems/too-slow');
    expect(res.body.detail).toBe(
      "translating this image at 80x60 on cpu would take about 4.8 s, more than its deadline allows: size=73 or smaller fits (the server's REQUEST_TIMEOUT_MS setting is 2000 ms: raise it to allow more)",
    );
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(runs).toBe(0);
    // The size it names runs (below 4096 pixels only the warm-up's own price applies).
    const ok = track(await request(s.server).post('/translate?size=73&fit=model').attach('image', photo, 'p.png'));
    expect(ok.status).toBe(200);
    expect(ok.headers['x-processing-size']).toBe('72x56');
    expect(runs).toBe(1);
  });

  it('503 with Retry-After at once when the work queued ahead would make it late', async () => {
    const s = await start(models.dir, { DEFAULT_MODEL: 'tiny', REQUEST_TIMEOUT_MS: 2000, MAX_BATCH: 1 });
    const model = s.repo.get('tiny')!;
    price(model, 80 * 60, 0.25); // 1.2 s per photo: one fits, two do not
    const real = model.infer;
    model.infer = async (...a) => {
      await new Promise((r) => setTimeout(r, 1200));
      return real(...a);
    };
    const first = request(s.server).post('/translate?size=original').attach('image', photo, 'p.png').then();
    while (model.batcher.inFlight === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    const res = await request(s.server).post('/translate?size=original').attach('image', photo, 'p.png');
    expectProblem(res, 503, '/problems/overloaded');
    expect(res.body.detail).toBe(
      "model 'tiny' is busy: the work queued ahead (about 1.2 s) and translating this image at 80x60 on cpu (about 1.2 s) would not finish before its deadline",
    );
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(track(await first).status).toBe(200);
  });
});

describe('limits, authentication, CORS', () => {
  it('413 when the upload exceeds MAX_UPLOAD_BYTES (multipart and raw)', async () => {
    const s = await start(models.dir, { MAX_UPLOAD_BYTES: 2000 });
    const big = await noiseImage(64, 64, 'png', 5);
    expect(big.length).toBeGreaterThan(2000);
    expectProblem(
      await request(s.server).post('/translate').attach('image', big, 'big.png'),
      413,
      '/problems/too-large',
    );
    expectProblem(
      await request(s.server).post('/translate').set('Content-Type', 'image/png').send(big),
      413,
      '/problems/too-large',
    );
    const small = await noiseImage(8, 8, 'png', 5);
    expect(small.length).toBeLessThan(2000);
    expect((await request(s.server).post('/translate').attach('image', small, 's.png')).status).toBe(200);
  });

  it('401 without the right bearer token when API_KEY is set; other routes stay open', async () => {
    const s = await start(models.dir, { API_KEY: 'correct-horse-battery' });
    const none = await request(s.server).post('/translate').attach('image', photo, 'p.png');
    expectProblem(none, 401, '/problems/unauthorized', /Authorization: Bearer/);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await request(s.server)
      .post('/translate')
      .set('Authorization', 'Bearer wrong-key')
      .attach('image', photo, 'p.png');
    expectProblem(wrong, 401, '/problems/unauthorized', /wrong/);
    expect(wrong.headers['www-authenticate']).toMatch(/invalid_token/);
    const ok = await request(s.server)
      .post('/translate')
      .set('Authorization', 'Bearer correct-horse-battery')
      .attach('image', photo, 'p.png');
    expect(ok.status).toBe(200);
    expect((await request(s.server).get('/v1/models')).status).toBe(200);
  });

  it('CORS only for configured origins', async () => {
    const s = await start(models.dir, { CORS_ORIGINS: ['https://app.example'] });
    const pre = await request(s.server)
      .options('/translate')
      .set('Origin', 'https://app.example')
      .set('Access-Control-Request-Method', 'POST');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    const res = await request(s.server)
      .post('/translate')
      .set('Origin', 'https://app.example')
      .attach('image', photo, 'p.png');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['access-control-expose-headers']).toMatch(/X-Processing-Size/);
    const other = await request(s.server).get('/v1/models').set('Origin', 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('readiness', () => {
  it('503 while models are still loading', async () => {
    const s = await start(models.dir, {}, { load: false });
    const r = await request(s.server).get('/readyz');
    expectProblem(r, 503, '/problems/not-ready', /loading/);
    expect(r.headers['retry-after']).toBe('5');
    expectProblem(
      await request(s.server).post('/translate').attach('image', photo, 'p.png'),
      503,
      '/problems/not-ready',
      /loading/,
    );
    expect((await request(s.server).get('/healthz')).status).toBe(200);
  });

  it('503 for new work while shutting down', async () => {
    const lifecycle = { draining: false };
    const s = await start(models.dir, {}, { lifecycle });
    expect((await request(s.server).get('/readyz')).status).toBe(200);
    lifecycle.draining = true;
    expectProblem(await request(s.server).get('/readyz'), 503, '/problems/shutting-down');
    expectProblem(
      await request(s.server).post('/translate').attach('image', photo, 'p.png'),
      503,
      '/problems/shutting-down',
    );
  });

  it("503 when a model's inference worker has died", async () => {
    const s = await start(models.dir);
    await s.repo.get('gray')!.thread.terminate();
    expectProblem(await request(s.server).get('/readyz'), 503, '/problems/not-ready', /worker stopped.*gray/);
    expectProblem(
      await request(s.server).post('/translate?model=gray').attach('image', photo, 'p.png'),
      503,
      '/problems/not-ready',
      /inference worker of model 'gray' has stopped/,
    );
    expect((await request(s.server).post('/translate?model=tiny').attach('image', photo, 'p.png')).status).toBe(200);
  });

  it('starts cleanly with an empty or missing model repository and says so', async () => {
    const empty = await createTinyModelRepo([]);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    try {
      for (const dir of [empty.dir, path.join(empty.dir, 'does-not-exist')]) {
        lines.length = 0;
        const s = await start(dir, {}, { logger });
        expectProblem(await request(s.server).get('/readyz'), 503, '/problems/not-ready', /no models/);
        expectProblem(
          await request(s.server).post('/translate').attach('image', photo, 'p.png'),
          503,
          '/problems/not-ready',
          /no models/,
        );
        expect((await request(s.server).get('/v1/models')).body).toEqual({
          defaultModel: null,
          models: [],
          repository: [],
        });
        expect(lines.join('')).toMatch(/no models|cannot be read/);
      }
    } finally {
      await empty.cleanup();
    }
  });

  it('reports broken model folders (not ready) and still serves the good ones', async () => {
    const repo = await createTinyModelRepo([{ name: 'good' }]);
    try {
      await fs.mkdir(path.join(repo.dir, 'badjson'));
      await fs.writeFile(path.join(repo.dir, 'badjson', 'model.json'), '{ not json');
      const sha = await writeTinyModel(repo.dir, { name: 'badsha' });
      const manifestPath = path.join(repo.dir, 'badsha', 'model.json');
      sha.directions.AtoB!.sha256 = 'f'.repeat(64);
      await fs.writeFile(manifestPath, JSON.stringify(sha));
      const io = await writeTinyModel(repo.dir, { name: 'badio' });
      io.io = { input: 'image', output: 'output', layout: 'NCHW' };
      await fs.writeFile(path.join(repo.dir, 'badio', 'model.json'), JSON.stringify(io));
      await fs.mkdir(path.join(repo.dir, 'notamodel'));

      const s = await start(repo.dir);
      expect(s.repo.failures.map((f) => f.folder).sort()).toEqual(['badio', 'badjson', 'badsha']);
      expect(s.repo.failures.find((f) => f.folder === 'badsha')!.error).toMatch(/does not match its sha256/);
      expect(s.repo.failures.find((f) => f.folder === 'badio')!.error).toMatch(/io.input 'image' is not a graph input/);
      const ready = await request(s.server).get('/readyz');
      expectProblem(ready, 503, '/problems/not-ready', /badio, badjson, badsha/);
      const list = await request(s.server).get('/v1/models');
      expect(list.body.models.map((m: { name: string }) => m.name)).toEqual(['good']);
      expect((await request(s.server).post('/translate').attach('image', photo, 'p.png')).status).toBe(200);
    } finally {
      await repo.cleanup();
    }
  });

  it('falls back through execution providers: one start-up line per model, naming its provider and, once, why others were skipped; GPU_MAX_BATCH on a GPU', async () => {
    const repo = await createTinyModelRepo([{ name: 'm1' }, { name: 'm2' }]);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    try {
      const batches = { MAX_BATCH: 3, GPU_MAX_BATCH: 7 };
      const s = await start(repo.dir, { EXECUTION_PROVIDERS: ['cuda', 'webgpu', 'cpu'], ...batches }, { logger });
      const used = s.repo.get('m1')!.executionProvider;
      expect(['cuda', 'webgpu', 'cpu']).toContain(used);
      expect(s.repo.get('m1')!.maxBatch).toBe(used === 'cpu' ? 3 : 7);
      expect(s.repo.get('m2')!.executionProvider).toBe(used);
      const skipped = ['cuda', 'webgpu', 'cpu'].slice(0, ['cuda', 'webgpu', 'cpu'].indexOf(used));
      const msgs = lines.map((l) => JSON.parse(l).msg as string);
      const perModel = ['m1', 'm2'].map((m) => msgs.filter((l) => l.startsWith(`model '${m}' `)));
      for (const [i, mine] of perModel.entries()) {
        expect(mine).toHaveLength(1);
        expect(mine[0]).toMatch(new RegExp(`^model 'm${i + 1}' \\(AtoB, BtoA\\) on ${used}, warmed up in \\d+ ms`));
        expect(mine[0].split('\n')).toHaveLength(1);
      }
      // Each skipped provider is explained once in all, not once per model.
      for (const p of skipped) expect(msgs.filter((l) => l.includes(`${p} unavailable: `))).toHaveLength(1);
      expect(msgs.filter((l) => /provider/.test(l) && !l.startsWith('model '))).toEqual([]);
      expect((await request(s.server).post('/translate?model=m2').attach('image', photo, 'p.png')).status).toBe(200);
    } finally {
      await repo.cleanup();
    }
  });
});

describe('documentation and behaviour agree', () => {
  // The /v2 (OIP) routes are checked by tests/serve/oip/router.test.ts, model control by
  // tests/serve/routes/modelControl.test.ts.
  const elsewhere = (route: string) => route.startsWith('/v2') || /^\/v1\/models\/\{name\}\/(load|unload)$/.test(route);

  it('every status code documented in openapi.yaml was produced by a test above', async () => {
    const doc = YAML.parse(await fs.readFile(OPENAPI_FILE, 'utf8'));
    const missing: string[] = [];
    for (const [route, item] of Object.entries<Record<string, { responses: Record<string, unknown> }>>(doc.paths))
      for (const [method, op] of Object.entries(elsewhere(route) ? {} : item))
        for (const status of Object.keys(op.responses))
          if (!seen.has(`${method} ${route} ${status}`)) missing.push(`${method.toUpperCase()} ${route} → ${status}`);
    expect(missing).toEqual([]);
  });

  it('every error example in openapi.yaml is a body the server really answered (Swagger UI shows them)', async () => {
    const doc = YAML.parse(await fs.readFile(OPENAPI_FILE, 'utf8'));
    if (process.env.DUMP_PROBLEMS) await fs.writeFile(process.env.DUMP_PROBLEMS, JSON.stringify(problems, null, 2));
    const statuses = new Set<string>();
    // The /v2 (OIP) routes answer {"error"}: tests/serve/oip/router.test.ts checks their examples.
    for (const [route, item] of Object.entries<Record<string, { responses: Record<string, { $ref?: string }> }>>(
      doc.paths,
    ))
      for (const op of Object.values(elsewhere(route) ? {} : item))
        for (const [status, r] of Object.entries(op.responses))
          if (Number(status) >= 400 && r.$ref) statuses.add(`${status} ${r.$ref}`);
    const checked: string[] = [];
    for (const entry of statuses) {
      const [status, ref] = entry.split(' ');
      const response = doc.components.responses[ref.split('/').pop()!];
      const examples = Object.entries<{ value: Record<string, unknown> }>(
        response.content['application/problem+json'].examples ?? {},
      );
      expect([entry, examples.length > 0]).toEqual([entry, true]);
      for (const [name, { value }] of examples) {
        if (value.status !== Number(status)) continue; // a shared component (404 and 503 each hold several kinds)
        expect([name, problems.some((p) => JSON.stringify(p) === JSON.stringify(value))]).toEqual([name, true]);
        checked.push(name);
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(statuses.size);
  });
});
