/**
 * The demo page (/) and Swagger UI (/docs) in headless Chromium: they load under the server's
 * CSP, list models, and the page uploads an image and shows the translated one. These tests pin
 * the page to the server (`?run=server`); tests/serve/browserMode.test.ts covers its browser mode.
 */
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import request from 'supertest';
import { createApp } from '../../../serve/app';
import { loadConfig } from '../../../serve/config';
import { ModelRepository } from '../../../serve/modelRepository';
import { openPage as openRecordingPage } from '../../helpers/browserPage';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../../helpers/tinyModel';

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
  const open = (url: string) => openRecordingPage(browser, url);

  it('uploads an image and shows input and translated output side by side', async () => {
    const { page, errors } = await open(`${base}/?run=server`);
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

  /** The page with its models listed, counting the POST /translate requests it sends. */
  async function openPage(): Promise<{ page: Page; errors: string[]; posts: URL[] }> {
    const { page, errors } = await open(`${base}/?run=server`);
    const posts: URL[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/translate') posts.push(new URL(r.url()));
    });
    await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length === 2);
    return { page, errors, posts };
  }

  /** Waits until the page has finished a translation (or an error) and no request is in flight. */
  async function settled(page: Page, status: RegExp = /^Done\.$/): Promise<void> {
    await page.waitForFunction(
      (re) => new RegExp(re).test(document.getElementById('status')!.textContent ?? ''),
      status.source,
      { timeout: 30_000 },
    );
  }

  /** No <img> on screen shows the broken-image icon: every visible one has decoded. */
  async function brokenImages(page: Page): Promise<string[]> {
    return page.$$eval('img', (imgs) =>
      imgs
        .filter((i) => !(i as HTMLImageElement).hidden && !((i as HTMLImageElement).naturalWidth > 0))
        .map((i) => i.id),
    );
  }

  it('one request per action: a chosen file translates once; direction and size changes translate again', async () => {
    const { page, errors, posts } = await openPage();
    expect(await page.$('button[type=submit]')).toBeNull(); // nothing to press that would resend the same request
    await page.setInputFiles('#file', { name: 'cat.png', mimeType: 'image/png', buffer: await noiseImage(40, 30) });
    await settled(page);
    expect(posts.map((u) => u.searchParams.get('dir'))).toEqual(['AtoB']);

    await page.selectOption('#dir', 'BtoA');
    await settled(page);
    expect(await page.textContent('#output-caption')).toMatch(/tiny BtoA at 32x32/);
    await page.selectOption('#size', 'original');
    await settled(page);
    expect(await page.textContent('#output-caption')).toMatch(/tiny BtoA at 40x32/);
    expect(posts.map((u) => [u.searchParams.get('dir'), u.searchParams.get('size')])).toEqual([
      ['AtoB', 'native'],
      ['BtoA', 'native'],
      ['BtoA', 'original'],
    ]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the chosen file name and offers the output as <name>_<direction>.png', async () => {
    const { page, errors } = await openPage();
    await page.setInputFiles('#file', {
      name: 'my photo.jpeg',
      mimeType: 'image/png',
      buffer: await noiseImage(40, 30),
    });
    await settled(page);
    expect(await page.textContent('#file-name')).toMatch(/^my photo\.jpeg \(\d+(\.\d)? (B|KB)\)$/);
    expect(await page.isVisible('#download')).toBe(true);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('my photo_AtoB.png');
    const saved = await sharp(await download.path()).metadata();
    expect([saved.format, saved.width, saved.height]).toEqual(['png', 40, 30]);
    await page.selectOption('#dir', 'BtoA');
    await settled(page);
    expect(await page.getAttribute('#download', 'download')).toBe('my photo_BtoA.png');
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a failed upload clears the previous output and shows the problem's detail, with no broken image", async () => {
    const { page, errors } = await openPage();
    await page.setInputFiles('#file', { name: 'good.png', mimeType: 'image/png', buffer: await noiseImage(40, 30) });
    await settled(page);
    expect(await page.isVisible('#output')).toBe(true);

    await page.setInputFiles('#file', {
      name: 'notes.png',
      mimeType: 'image/png',
      buffer: Buffer.from('not an image'),
    });
    await settled(page, /^415 /);
    expect(await page.textContent('#status')).toMatch(/^415 Unsupported Media Type: not a decodable image/);
    expect(await page.getAttribute('#status', 'class')).toContain('error');
    expect(await page.isVisible('#output')).toBe(false);
    expect(await page.isVisible('#download')).toBe(false);
    expect(await page.textContent('#output-caption')).toBe('Output');
    expect(await page.textContent('#file-name')).toMatch(/^notes\.png/);
    await page.waitForFunction(() => (document.getElementById('input') as HTMLImageElement).complete);
    expect(await brokenImages(page)).toEqual([]);
    // The browser logs the failed request itself; nothing else may fail.
    expect(errors.filter((e) => !/status of 415/.test(e))).toEqual([]);
    await page.close();
  });

  it('the drop zone works from the keyboard (Tab, Enter) and by dropping a file', async () => {
    const { page, errors, posts } = await openPage();
    // Listen before the key press: Playwright turns on file-chooser interception asynchronously.
    const chooserShown = page.waitForEvent('filechooser');
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== 'drop'; i++)
      await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('drop');
    await page.keyboard.press('Enter');
    const chooser = await chooserShown;
    await chooser.setFiles({ name: 'keys.png', mimeType: 'image/png', buffer: await noiseImage(24, 24) });
    await settled(page);
    expect(await page.textContent('#file-name')).toMatch(/^keys\.png/);

    const bytes = [...(await noiseImage(20, 28))];
    const dataTransfer = await page.evaluateHandle((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'dropped.png', { type: 'image/png' }));
      return dt;
    }, bytes);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await settled(page);
    expect(await page.textContent('#file-name')).toMatch(/^dropped\.png/);
    expect(await page.getAttribute('#download', 'download')).toBe('dropped_AtoB.png');
    expect(posts).toHaveLength(2);
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
