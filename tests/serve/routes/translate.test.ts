/**
 * POST /translate's deadline (REQUEST_TIMEOUT_MS) end to end on a tiny tiling model: tiled work
 * that passes it is stopped between tiles and answered 503 at once, the tiles' timing corrects the
 * price so that the next such request is refused before running, and a `size` above the input's
 * with fit=original is run at the input's size. (The 422/503 refusals priced before running, and
 * their openapi.yaml examples, are in tests/serve/app.test.ts.)
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import { createApp } from '../../../serve/app';
import { loadConfig, type Config } from '../../../serve/config';
import { ModelRepository } from '../../../serve/modelRepository';
import { plannedRuns } from '../../../inference/costModel';
import { planRequest } from '../../../inference/requestPlan';
import { DEFAULT_TILING } from '../../../inference/tiling/tiledTranslate';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../../helpers/tinyModel';

const silent = pino({ level: 'silent' });
const servers: { server: Server; repo: ModelRepository }[] = [];
let models: TinyRepo;

async function start(overrides: Partial<Config>) {
  const config = loadConfig(
    {},
    { MODELS_DIR: models.dir, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent', DEFAULT_MODEL: 'tiny', ...overrides },
  );
  const repo = new ModelRepository(config, silent);
  await repo.load();
  const server = createApp(config, repo, { logger: silent }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({ server, repo });
  return { server, model: repo.get('tiny')! };
}

beforeAll(async () => {
  models = await createTinyModelRepo([{ name: 'tiny', tiling: true }]);
});

afterAll(async () => {
  for (const s of servers) {
    s.server.closeAllConnections();
    await new Promise((r) => s.server.close(r));
    await s.repo.close();
  }
  await models.cleanup();
});

describe('POST /translate deadline', () => {
  it('stops tiled work that passes REQUEST_TIMEOUT_MS between tiles (503 in words), and its timing refuses the next one at once (422)', async () => {
    const { server, model } = await start({ REQUEST_TIMEOUT_MS: 1500, TILE_PIXELS: 4096 });
    // Priced cheap (whatever this machine's warm-up measured), each tile then takes 200 ms: the
    // first request is admitted and runs past its deadline.
    for (const graph of ['plain', 'apply', 'statistics'] as const)
      for (let band = 4; band <= 20; band++)
        for (let i = 0; i < 50; i++) model.prices.observe('AtoB', graph, 2 ** band, 1, 2 ** band * 1e-6);
    let graphRuns = 0;
    const real = model.thread.runGraph.bind(model.thread);
    model.thread.runGraph = async (...a) => {
      graphRuns++;
      await new Promise((r) => setTimeout(r, 200));
      return real(...a);
    };
    const img = await noiseImage(320, 240, 'png', 3);
    const post = () => request(server).post('/translate?size=original').attach('image', img, 'i.png');

    const t0 = Date.now();
    const res = await post();
    const ms = Date.now() - t0;
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toBe('/problems/timeout');
    expect(res.body.detail).toMatch(
      /^request timed out \(REQUEST_TIMEOUT_MS=1500\): passed the deadline after \d+ tiled run\(s\), and was stopped$/,
    );
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Answered at the first tile boundary past the deadline, not after the whole image.
    const stoppedAt = graphRuns;
    expect(stoppedAt).toBeLessThanOrEqual(Math.ceil(1500 / 200) + 1);
    const ctx = {
      name: 'tiny',
      manifest: model.manifest,
      limits: { maxPixels: 1e9 },
      tiling: { ...DEFAULT_TILING, tilePixels: 4096 },
    };
    const plan = await planRequest(img, ctx, { direction: 'AtoB', size: { kind: 'original' } });
    const whole = plannedRuns(plan, ctx).reduce((n, r) => n + r.count, 0);
    expect(whole).toBeGreaterThan(3 * stoppedAt);
    expect(ms).toBeLessThan(1500 + 2500);
    await new Promise((r) => setTimeout(r, 600));
    expect(graphRuns).toBe(stoppedAt); // nothing more ran after the answer

    // The tiles it ran taught the model their real price: the same request is now refused before running.
    const t1 = Date.now();
    const again = await post();
    expect(again.status).toBe(422);
    expect(again.body.type).toBe('/problems/too-slow');
    expect(again.body.detail).toMatch(
      /^translating this image at 320x240 in tiles on cpu would take about [\d.]+ s, more than its deadline allows: (size=\d+ or smaller fits|no size fits) \(the server's REQUEST_TIMEOUT_MS setting is 1500 ms: raise it to allow more\)$/,
    );
    expect(Date.now() - t1).toBeLessThan(1000);
    expect(graphRuns).toBe(stoppedAt);
  }, 60_000);

  it('a size above the input with fit=original runs at the input size; fit=model runs it as asked', async () => {
    const { server } = await start({});
    const small = await noiseImage(64, 48, 'png', 4);
    const t0 = Date.now();
    const res = await request(server).post('/translate?size=5000').attach('image', small, 's.png');
    expect(res.status).toBe(200);
    expect(res.headers['x-processing-size']).toBe('64x48');
    expect(res.headers['x-tiles']).toBe('0');
    const meta = await sharp(res.body).metadata();
    expect([meta.width, meta.height]).toEqual([64, 48]);
    expect(Date.now() - t0).toBeLessThan(5000);
    // The same as size=original, byte for byte.
    const original = await request(server).post('/translate?size=original').attach('image', small, 's.png');
    expect(Buffer.compare(res.body, original.body)).toBe(0);
    // Not clamped when the output is kept at the processing size, nor below the input's size.
    const asked = await request(server).post('/translate?size=96&fit=model').attach('image', small, 's.png');
    expect(asked.headers['x-processing-size']).toBe('96x72');
    const smaller = await request(server).post('/translate?size=32').attach('image', small, 's.png');
    expect(smaller.headers['x-processing-size']).toBe('32x24');
  });
});
