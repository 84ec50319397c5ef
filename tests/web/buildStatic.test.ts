/**
 * The static export (npm run build:web): the folder, served by a plain static file server with no
 * API behind it, translates an image in Chromium; the result equals the server pipeline's for the
 * same model and image within 1 grey level.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { buildStaticSite } from '../../web/buildStatic';
import { ORT_FILES } from '../../web/bundle';
import { haveChromium, launchChromium, maxDiff, openPage, outputBytes, rgba, settled } from '../helpers/browserPage';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../helpers/tinyModel';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

/** The plainest static file server: GET a file under `root`, else 404. No headers beyond the type. */
function staticServer(root: string): Server {
  return createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (!file.startsWith(root)) return res.writeHead(403).end();
    fs.stat(file).then(
      (st) => {
        if (!st.isFile()) return res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
}

describe('npm run build:web', () => {
  let models: TinyRepo;
  let out: string;

  beforeAll(async () => {
    models = await createTinyModelRepo([{ name: 'tiny', ngf: 8 }]);
    out = await fs.mkdtemp(path.join(os.tmpdir(), 'web-build-'));
  });

  afterAll(async () => {
    await fs.rm(out, { recursive: true, force: true });
    await models?.cleanup();
  });

  it('writes the page, the pipeline bundle, the runtime, the model and the examples', async () => {
    const r = await buildStaticSite(path.join(models.dir, 'tiny'), out);
    expect(r.model).toBe('tiny');
    const listed = async (dir: string) => (await fs.readdir(path.join(out, dir))).sort();
    expect(await listed('.')).toEqual([
      'app.js',
      'browser',
      'examples',
      'index.html',
      'model-files',
      'ort',
      'style.css',
    ]);
    expect(await listed('browser')).toEqual(['pipeline.js', 'resample.wasm']);
    expect(await listed('ort')).toEqual([...ORT_FILES].sort());
    expect(await listed('model-files/tiny')).toEqual(['AtoB.onnx', 'BtoA.onnx', 'model.json']);
    const index = JSON.parse(await fs.readFile(path.join(out, 'model-files/index.json'), 'utf8'));
    expect(index.defaultModel).toBe('tiny');
    const graph = index.models[0].directions.AtoB;
    expect(graph.bytes).toBe((await fs.stat(path.join(out, 'model-files/tiny/AtoB.onnx'))).size);
    expect(graph.url).toMatch(/^model-files\/tiny\/AtoB\.onnx\?v=[0-9a-f]{16}$/);
    const examples = JSON.parse(await fs.readFile(path.join(out, 'examples/index.json'), 'utf8'));
    expect(examples.length).toBeGreaterThan(0);
    for (const ex of examples) await fs.access(path.join(out, ex.url));
  });

  (haveChromium ? it : it.skip)(
    'served by a plain static file server, the page translates an image in the browser with no API behind it',
    async () => {
      await buildStaticSite(path.join(models.dir, 'tiny'), out);
      const server = staticServer(out).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      let browser: Browser | undefined;
      const config = loadConfig({}, { MODELS_DIR: models.dir, EXECUTION_PROVIDERS: ['cpu'] });
      const repo = new ModelRepository(config, pino({ level: 'silent' }));
      try {
        browser = await launchChromium();
        const { page, errors } = await openPage(browser, `${base}/?backend=wasm`);
        await page.waitForFunction(
          () => /this browser runs/i.test(document.getElementById('runon-note')!.textContent ?? ''),
          undefined,
          { timeout: 60_000 },
        );
        expect(await page.isDisabled('#runon option[value=server]')).toBe(true);
        expect(await page.isHidden('#api-links')).toBe(true);
        const image = await noiseImage(72, 40, 'png', 9);
        await page.setInputFiles('#file', { name: 'wide.png', mimeType: 'image/png', buffer: image });
        expect(await settled(page)).toBe('Done.');
        const shown = await rgba(await outputBytes(page));

        // The server pipeline on the same model folder, for reference (not reachable from the page).
        await repo.load();
        const api = await request(createApp(config, repo, { logger: pino({ level: 'silent' }) }))
          .post('/translate?model=tiny&dir=AtoB')
          .attach('image', image, 'wide.png');
        const expected = await rgba(api.body);
        expect([shown.width, shown.height]).toEqual([72, 40]);
        expect(maxDiff(shown.data, expected.data)).toBeLessThanOrEqual(1);
        // The only failed requests are the API's, answered 404 by the static server.
        expect(errors.filter((e) => !/404/.test(e))).toEqual([]);
        await page.close();
      } finally {
        await browser?.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await repo.close();
      }
    },
  );
});
