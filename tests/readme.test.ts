/**
 * The README cannot rot: every ```sh block preceded by `<!-- runnable -->` runs as written, and
 * every block marked `<!-- runnable: server -->` runs against a server started from this checkout
 * (`npm start`'s entry point with the bundled models). Blocks run with bash -e in a scratch folder
 * that links to the repository's files, so their outputs (`-o file.png`, `--output out/...`) land
 * there; each block must exit 0 and every image it wrote must decode. The only rewrite is the
 * port: the server listens on a free one and `localhost:3000` is pointed at it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import sharp from 'sharp';

const ROOT = path.join(__dirname, '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface Block {
  line: number;
  server: boolean;
  script: string;
}

/** The marked blocks, with the README line they start on (for failure messages). */
function runnableBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const re = /<!-- runnable(: server)? -->\s*\n```sh\n([^]*?)\n```/g;
  for (let m = re.exec(markdown); m; m = re.exec(markdown))
    blocks.push({ line: markdown.slice(0, m.index).split('\n').length, server: !!m[1], script: m[2] });
  return blocks;
}

const BLOCKS = runnableBlocks(README);
const CHROMIUM = '/usr/bin/chromium';
const IMAGE = /\.(png|jpe?g|webp)$/i;

let scratch: string;
let server: ChildProcess | undefined;
let port = 0;

/** A scratch working folder whose entries link to the repository's (outputs stay in the scratch). */
async function makeScratch(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'readme-'));
  for (const entry of await fs.readdir(ROOT)) {
    if (entry === '.git' || entry === 'out') continue;
    await fs.symlink(path.join(ROOT, entry), path.join(dir, entry));
  }
  return dir;
}

async function startServer(): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'serve/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', API_KEY: '', CONFIG_FILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not get ready:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (listening && /model\(s\) ready/.test(out)) {
        clearTimeout(timer);
        resolve(Number(listening[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
}

async function imagesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.isSymbolicLink()) continue; // the repository's own files
    const p = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await imagesUnder(p)));
    else if (IMAGE.test(e.name)) found.push(p);
  }
  return found;
}

beforeAll(async () => {
  scratch = await makeScratch();
  if (BLOCKS.some((b) => b.server)) port = await startServer();
}, 90_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

test('the README marks its runnable examples, and they use files that exist', () => {
  expect(BLOCKS.filter((b) => b.server).length).toBeGreaterThanOrEqual(2);
  expect(BLOCKS.filter((b) => !b.server).length).toBeGreaterThanOrEqual(2);
  // Every example file the README names is in the repository; no macOS-only `open` commands.
  for (const [file] of README.matchAll(/examples\/[\w/.-]+\.(png|jpe?g|webp)/g))
    expect([file, readFileSync(path.join(ROOT, file)).length > 0]).toEqual([file, true]);
  expect(README).not.toMatch(/^open http/m);
});

test.each(BLOCKS.map((b) => [`README.md:${b.line}${b.server ? ' (server)' : ''}`, b] as const))(
  '%s runs as written',
  async (_, block) => {
    const before = new Set(await imagesUnder(scratch));
    const script = block.server ? block.script.replace(/localhost:3000\b/g, `localhost:${port}`) : block.script;
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: scratch,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect([r.status, r.status === 0 ? '' : `${r.stdout}\n${r.stderr}`]).toEqual([0, '']);
    // What the block wrote is real images, not an error body saved under an image name.
    for (const file of (await imagesUnder(scratch)).filter((f) => !before.has(f))) {
      const meta = await sharp(file).metadata();
      expect([path.relative(scratch, file), meta.width! > 0]).toEqual([path.relative(scratch, file), true]);
    }
  },
  300_000,
);

const walkthrough = /\*\*The web page:\*\*([^]*?)\n\n/.exec(README)?.[1] ?? '';
(existsSync(CHROMIUM) ? test : test.skip)(
  'the web page walkthrough does what the README says (headless Chromium)',
  async () => {
    const file = /say `(examples\/[^`]+)`/.exec(walkthrough)?.[1];
    const downloadName = /\(`([^`]+_AtoB\.png)`\)/.exec(walkthrough)?.[1];
    expect([file, downloadName]).toEqual([expect.any(String), expect.any(String)]);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://localhost:${port}/`);
      await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length > 0);
      await page.setInputFiles('#file', path.join(ROOT, file!));
      // The page runs the model in the browser by default: onnxruntime-web compiles its wasm runtime first.
      await page.waitForFunction(() => document.getElementById('status')!.textContent === 'Done.', undefined, {
        timeout: 120_000,
      });
      expect(await page.getAttribute('#download', 'download')).toBe(downloadName);
    } finally {
      await browser.close();
    }
  },
  180_000,
);
