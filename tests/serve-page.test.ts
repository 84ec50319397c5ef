/**
 * The demo page (/) and Swagger UI (/docs) in headless Chromium: they load under the server's
 * CSP, list models, and the page uploads an image and shows the translated one.
 */
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import request from 'supertest';
import { createApp } from '../serve/app';
import { loadConfig } from '../serve/config';
import { ModelRepository } from '../serve/modelRepository';
import { createTinyModelRepo, noiseImage, type TinyRepo } from './helpers/tinyModel';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`serve-page tests skipped: ${CHROMIUM} not found (install chromium to run them)`);
const suite = haveChromium ? describe : describe.skip;

suite('web page in headless Chromium', () => {
  let models: TinyRepo;
  let repo: ModelRepository;
  let server: Server;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    models = await createTinyModelRepo([{ name: 'tiny' }, { name: 'gray', inputNc: 1, directions: ['AtoB'] }]);
    const config = loadConfig({}, { MODELS_DIR: models.dir, EXECUTION_PROVIDERS: ['cpu'], DEFAULT_MODEL: 'tiny' });
    repo = new ModelRepository(config, pino({ level: 'silent' }));
    await repo.load();
    server = createApp(config, repo, { logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await repo?.close();
    await models?.cleanup();
  });

  /** A page that records console errors (CSP violations show up there) and uncaught exceptions. */
  async function open(url: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    return { page, errors };
  }

  it('uploads an image and shows input and translated output side by side', async () => {
    const { page, errors } = await open(`${base}/`);
    await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length === 2);
    expect(await page.inputValue('#model')).toBe('tiny');
    const dirs = await page.$$eval('#dir option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(dirs).toEqual(['AtoB', 'BtoA']);

    const image = await noiseImage(80, 60, 'png', 21);
    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/translate');
    await page.setInputFiles('#file', { name: 'photo.png', mimeType: 'image/png', buffer: image });
    await page.waitForFunction(
      () => {
        const img = document.getElementById('output') as HTMLImageElement;
        return !img.hidden && img.complete && img.naturalWidth > 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    const shown = await page.$eval('#output', (el) => {
      const img = el as HTMLImageElement;
      return { w: img.naturalWidth, h: img.naturalHeight, src: img.src };
    });
    expect([shown.w, shown.h]).toEqual([80, 60]);
    expect(shown.src).toMatch(/^blob:/);
    const input = await page.$eval('#input', (el) => (el as HTMLImageElement).naturalWidth);
    expect(input).toBe(80);
    expect(await page.textContent('#output-caption')).toMatch(/tiny AtoB at 32x32/);
    expect(await page.textContent('#status')).toBe('Done.');

    // The page went through the public API with the chosen options.
    const r = await response;
    expect(r.request().method()).toBe('POST');
    expect(new URL(r.url()).searchParams.get('dir')).toBe('AtoB');
    expect(r.status()).toBe(200);
    expect(r.headers()['content-type']).toBe('image/png');

    // What the page shows is exactly what the API returns for that image.
    const rgba = await page.$eval('#output', (el) => {
      const img = el as HTMLImageElement;
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
    });
    const api = await request(server).post('/translate?model=tiny&dir=AtoB').attach('image', image, 'photo.png');
    const expected = await sharp(api.body).ensureAlpha().raw().toBuffer();
    expect(Buffer.from(rgba).equals(expected)).toBe(true);

    // Choosing the one-direction model updates the direction list.
    await page.selectOption('#model', 'gray');
    expect(await page.$$eval('#dir option', (os) => os.length)).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('Swagger UI at /docs renders the API from /openapi.yaml under the CSP', async () => {
    const { page, errors } = await open(`${base}/docs/`);
    await page.waitForSelector('.swagger-ui .info .title', { timeout: 30_000 });
    expect(await page.textContent('.swagger-ui .info .title')).toContain('cyclegan-ts translation server');
    await page.waitForSelector('#operations-translate-translate');
    expect(await page.$$eval('.opblock', (els) => els.length)).toBeGreaterThanOrEqual(7);
    expect(errors).toEqual([]);
    await page.close();
  });
});
