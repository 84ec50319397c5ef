/**
 * The page's in-browser mode (issue #27) in headless Chromium: the generator runs in the page with
 * onnxruntime-web, and what the page shows equals what POST /translate returns for the same image
 * and options within 1 grey level, on wasm and on WebGPU; images that need tiling go to the server;
 * with no browser backend the page says so and uses the server.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import request from 'supertest';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { haveChromium, launchChromium, maxDiff, openPage, outputBytes, rgba, settled } from '../helpers/browserPage';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../helpers/tinyModel';

if (!haveChromium) console.warn('browser-mode tests skipped: /usr/bin/chromium not found (install chromium)');
const suite = haveChromium ? describe : describe.skip;

/** Noise RGBA with every alpha level, fully transparent pixels included (their colour still counts). */
async function rgbaImage(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 4);
  let s = 12345;
  for (let i = 0; i < raw.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    raw[i] = (s >>> 16) & 255;
  }
  for (let i = 0; i < width * 3; i++) raw[i * 4 + 3] = 0; // three rows fully transparent
  return sharp(raw, { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer();
}

suite('the page translating in the browser', () => {
  let models: TinyRepo;
  let repo: ModelRepository;
  let server: Server;
  let base: string;
  let browser: Browser;
  let webgpu: string | null = null; // why WebGPU cannot be tested here, or null

  beforeAll(async () => {
    models = await createTinyModelRepo([{ name: 'tiny', tiling: true, ngf: 8, nBlocks: 2 }]);
    const config = loadConfig(
      {},
      { MODELS_DIR: models.dir, EXECUTION_PROVIDERS: ['cpu'], DEFAULT_MODEL: 'tiny', TILE_PIXELS: 96 * 96 },
    );
    repo = new ModelRepository(config, pino({ level: 'silent' }));
    await repo.load();
    server = createApp(config, repo, { logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    const { page } = await openPage(browser, `${base}/healthz`);
    webgpu = await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      if (!gpu) return 'navigator.gpu is missing in this Chromium';
      return (await gpu.requestAdapter()) ? null : 'Chromium found no WebGPU adapter';
    });
    await page.close();
  });

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await repo?.close();
    await models?.cleanup();
  });

  const cases = [
    { name: 'square.png', make: () => noiseImage(48, 48, 'png', 3), size: 'native' },
    { name: 'wide.png', make: () => noiseImage(80, 60, 'png', 4), size: 'original' },
    { name: 'alpha.png', make: () => rgbaImage(50, 40), size: 'native' },
  ];

  async function compare(backend: 'wasm' | 'webgpu'): Promise<void> {
    const { page, errors } = await openPage(browser, `${base}/?backend=${backend}`);
    await page.waitForFunction(
      () => /this browser runs/i.test(document.getElementById('runon-note')!.textContent ?? ''),
      undefined,
      {
        timeout: 60_000,
      },
    );
    expect(await page.inputValue('#runon')).toBe('browser');
    const posts: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/translate') posts.push(r.url());
    });
    for (const c of cases) {
      const image = await c.make();
      await page.selectOption('#size', c.size);
      await page.setInputFiles('#file', { name: c.name, mimeType: 'image/png', buffer: image });
      // SwiftShader compiles WebGPU shaders for each new input shape on the CPU: minutes on a busy machine.
      expect(await settled(page, backend === 'webgpu' ? 300_000 : 60_000)).toBe('Done.');
      const timings = (await page.textContent('#timings')) ?? '';
      expect(timings).toMatch(backend === 'webgpu' ? /on WebGPU/ : /on wasm/);
      const browserOut = await rgba(await outputBytes(page));
      const api = await request(server)
        .post(`/translate?model=tiny&dir=AtoB&size=${c.size}`)
        .attach('image', image, c.name);
      expect(api.status).toBe(200);
      const serverOut = await rgba(api.body);
      expect([browserOut.width, browserOut.height]).toEqual([serverOut.width, serverOut.height]);
      const d = maxDiff(browserOut.data, serverOut.data);
      console.log(`${backend} ${c.name}: max |browser - server| = ${d}`);
      expect(d).toBeLessThanOrEqual(1);
    }
    expect(posts).toEqual([]); // nothing went to the server
    expect(errors).toEqual([]);
    await page.close();
  }

  it('on wasm: square, non-square and RGBA images equal the server output within 1 grey level', async () => {
    await compare('wasm');
  });

  it('on WebGPU: the same three images equal the server output within 1 grey level', async () => {
    if (webgpu) {
      console.warn(`WebGPU comparison skipped: ${webgpu}`);
      return;
    }
    await compare('webgpu');
  }, 900_000);

  it('an image whose processing size needs tiling is translated by the server, and the page says so', async () => {
    const { page, errors } = await openPage(browser, `${base}/?backend=wasm`);
    await page.waitForFunction(() =>
      /this browser runs/i.test(document.getElementById('runon-note')!.textContent ?? ''),
    );
    await page.selectOption('#size', 'original');
    const post = page.waitForRequest((r) => new URL(r.url()).pathname === '/translate');
    await page.setInputFiles('#file', { name: 'big.png', mimeType: 'image/png', buffer: await noiseImage(128, 96) });
    await post;
    expect(await settled(page)).toBe('Done.');
    expect(await page.textContent('#timings')).toMatch(/128×96 needs tiled execution, which runs on the server/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('with WebGPU and wasm unavailable the page uses the server and says why', async () => {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });
    });
    await page.route('**/ort/*.wasm', (r) => r.abort());
    await page.goto(`${base}/`);
    await page.waitForFunction(
      () => /server/i.test(document.getElementById('runon-note')!.textContent ?? ''),
      undefined,
      {
        timeout: 60_000,
      },
    );
    expect(await page.inputValue('#runon')).toBe('server');
    expect(await page.textContent('#runon-note')).toMatch(
      /^Running on the server: this browser cannot run the model \(.*webgpu: .*wasm: /,
    );
    expect(await page.isDisabled('#runon option[value=browser]')).toBe(true);
    const post = page.waitForRequest((r) => new URL(r.url()).pathname === '/translate');
    await page.setInputFiles('#file', { name: 'x.png', mimeType: 'image/png', buffer: await noiseImage(40, 30) });
    await post;
    expect(await settled(page)).toBe('Done.');
    expect(await page.textContent('#timings')).toMatch(/^Ran on the server/);
    await page.close();
  });
});
