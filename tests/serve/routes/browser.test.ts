/**
 * The routes the page's browser mode uses (serve/browserRoutes.ts): the model-file index with sizes
 * and hashes, model files with ETag / immutable caching, onnxruntime-web's runtime, the bundled
 * pipeline, the examples; and the headers that make the page cross-origin isolated and allow it to
 * compile WebAssembly.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../../serve/app';
import { loadConfig } from '../../../serve/config';
import { ModelRepository } from '../../../serve/modelRepository';
import { createTinyModelRepo, type TinyRepo } from '../../helpers/tinyModel';

describe('browser-mode routes', () => {
  let models: TinyRepo;
  let repo: ModelRepository;
  let app: Express;

  beforeAll(async () => {
    models = await createTinyModelRepo([
      { name: 'tiny', tiling: true },
      { name: 'gray', inputNc: 1, directions: ['AtoB'] },
    ]);
    await fs.writeFile(path.join(models.dir, 'tiny', 'README.md'), '# tiny\n\nA test model.\n');
    const config = loadConfig(
      {},
      { MODELS_DIR: models.dir, EXECUTION_PROVIDERS: ['cpu'], DEFAULT_MODEL: 'tiny', TILE_PIXELS: 5000 },
    );
    repo = new ModelRepository(config, pino({ level: 'silent' }));
    await repo.load();
    app = createApp(config, repo, { logger: pino({ level: 'silent' }) });
  });

  afterAll(async () => {
    await repo?.close();
    await models?.cleanup();
  });

  it('lists every model graph with its size, hash and cacheable URL', async () => {
    const r = await request(app).get('/model-files/index.json').expect(200);
    expect(r.body.defaultModel).toBe('tiny');
    expect(r.body.tilePixels).toBe(5000);
    const tiny = r.body.models.find((m: { name: string }) => m.name === 'tiny');
    const bytes = await fs.readFile(path.join(models.dir, 'tiny', 'AtoB.onnx'));
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(tiny.directions.AtoB).toEqual({
      file: 'AtoB.onnx',
      sha256: sha,
      bytes: bytes.length,
      url: `model-files/tiny/AtoB.onnx?v=${sha.slice(0, 16)}`,
      tiling: true,
    });
    expect(tiny.manifest).toBe('model-files/tiny/model.json');
    expect(tiny.card).toEqual(['model-files/tiny/README.md']);
    const gray = r.body.models.find((m: { name: string }) => m.name === 'gray');
    expect(Object.keys(gray.directions)).toEqual(['AtoB']);
    expect(gray.card).toEqual([]);
  });

  it('serves a graph byte-exact: immutable under its hashed URL, revalidated by ETag otherwise', async () => {
    const index = (await request(app).get('/model-files/index.json')).body;
    const g = index.models.find((m: { name: string }) => m.name === 'tiny').directions.AtoB;
    const bytes = await fs.readFile(path.join(models.dir, 'tiny', 'AtoB.onnx'));
    const hashed = await request(app).get(`/${g.url}`).responseType('blob').expect(200);
    expect(Buffer.compare(hashed.body, bytes)).toBe(0);
    expect(hashed.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(hashed.headers.etag).toBe(`"${g.sha256}"`);
    expect(hashed.headers['content-length']).toBe(String(bytes.length));
    const plain = await request(app).get('/model-files/tiny/AtoB.onnx').expect(200);
    expect(plain.headers['cache-control']).toBe('no-cache');
    await request(app).get('/model-files/tiny/AtoB.onnx').set('If-None-Match', `"${g.sha256}"`).expect(304);
    const manifest = await request(app).get('/model-files/tiny/model.json').expect(200);
    expect(manifest.body.name).toBe('tiny');
    expect(manifest.headers.etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect((await request(app).get('/model-files/tiny/README.md').expect(200)).text).toContain('A test model.');
  });

  it('serves only the files a manifest names, of loaded models', async () => {
    await request(app).get('/model-files/tiny/AtoB.tile-stats.onnx').expect(404);
    await request(app).get('/model-files/tiny/..%2Fgray%2Fmodel.json').expect(404);
    await request(app).get('/model-files/nope/model.json').expect(404);
    await request(app).get('/model-files/gray/README.md').expect(404);
  });

  it("serves onnxruntime-web's runtime, the pipeline bundle, the resampler and the examples", async () => {
    const ort = await request(app).get('/ort/ort.min.mjs').expect(200);
    expect(ort.headers['content-type']).toMatch(/javascript/);
    const wasm = await request(app).get('/ort/ort-wasm-simd-threaded.jsep.wasm').responseType('blob').expect(200);
    expect(wasm.headers['content-type']).toBe('application/wasm');
    await request(app).get('/ort/ort.node.min.js').expect(404);
    const bundle = await request(app).get('/browser/pipeline.js').expect(200);
    expect(bundle.headers['content-type']).toMatch(/^text\/javascript/);
    expect(bundle.text).toMatch(/export\{/);
    await request(app).get('/browser/pipeline.js').set('If-None-Match', bundle.headers.etag).expect(304);
    const resampler = await request(app).get('/browser/resample.wasm').responseType('blob').expect(200);
    expect(resampler.headers['content-type']).toBe('application/wasm');
    const examples = (await request(app).get('/examples/index.json').expect(200)).body;
    expect(examples.length).toBeGreaterThan(0);
    const first = await request(app).get(`/${examples[0].url}`).expect(200);
    expect(first.headers['content-type']).toMatch(/^image\//);
  });

  it('the page is cross-origin isolated and may compile WebAssembly', async () => {
    const r = await request(app).get('/').expect(200);
    expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(r.headers['cross-origin-embedder-policy']).toBe('require-corp');
    expect(r.headers['content-security-policy']).toMatch(/script-src 'self' 'wasm-unsafe-eval'/);
  });
});
