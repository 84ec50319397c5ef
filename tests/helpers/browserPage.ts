/**
 * Shared by the browser-mode page tests: Debian's Chromium through playwright-core (WebGPU on a
 * software adapter with --enable-unsafe-webgpu and SwiftShader's Vulkan), and reading what the
 * page shows as RGBA.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** A page that records console errors and uncaught exceptions. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, errors };
}

/** Waits until the page has finished a translation ('Done.') or shown an error; returns the status line. */
export async function settled(page: Page, timeout = 60_000): Promise<string> {
  await page.waitForFunction(
    () => {
      const s = document.getElementById('status')!;
      return s.textContent === 'Done.' || s.classList.contains('error');
    },
    undefined,
    { timeout },
  );
  return (await page.textContent('#status')) ?? '';
}

/** The bytes of the page's output image, as its Download link saves them. */
export async function outputBytes(page: Page): Promise<Buffer> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  return readFile(await download.path());
}

/** Decoded RGBA pixels and size of image bytes. */
export async function rgba(bytes: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Largest per-channel difference of two equally sized RGBA images. */
export function maxDiff(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
