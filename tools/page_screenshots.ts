/**
 * Screenshots of the web page for the README: `node --import tsx tools/page_screenshots.ts`.
 * Starts the app on ./models (the bundled model), opens the page in headless Chromium at 1280 px,
 * translates an example in the browser (wasm) and saves docs/web-page.png (the whole page) and
 * docs/web-page-compare.png (the before/after comparison dragged to a third).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import pino from 'pino';
import { createApp } from '../serve/app';
import { loadConfig } from '../serve/config';
import { ModelRepository } from '../serve/modelRepository';
import { launchChromium, settled } from '../tests/helpers/browserPage';

const DOCS = path.join(__dirname, '..', 'docs');

async function main(): Promise<void> {
  const config = loadConfig({}, { MODELS_DIR: path.join(__dirname, '..', 'models'), EXECUTION_PROVIDERS: ['cpu'] });
  const repo = new ModelRepository(config, pino({ level: 'warn' }));
  await repo.load();
  const server = createApp(config, repo, { logger: pino({ level: 'warn' }) }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/?backend=wasm`);
    await page.waitForFunction(
      () => /this browser runs/i.test(document.getElementById('runon-note')!.textContent ?? ''),
      undefined,
      {
        timeout: 120_000,
      },
    );
    await page.click('#examples button:first-child');
    if ((await settled(page, 120_000)) !== 'Done.') throw new Error((await page.textContent('#status')) ?? '');
    await page.evaluate(() => document.getElementById('card-files')?.setAttribute('open', ''));
    await page.screenshot({ path: path.join(DOCS, 'web-page.png'), fullPage: true });
    await page.fill('#compare-slider', '35');
    await page.dispatchEvent('#compare-slider', 'input');
    await (await page.$('#compare-section'))!.screenshot({ path: path.join(DOCS, 'web-page-compare.png') });
  } finally {
    await browser.close();
    server.closeAllConnections();
    server.close();
    await repo.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
