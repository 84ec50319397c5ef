/**
 * In-browser vs server translation time: `npm run bench:browser -- [--runs 5] [--size 256]`, prints
 * JSON and a Markdown table.
 *
 * Serves two model folders with the real app (serve/app.ts, onnxruntime-node on the CPU): the
 * bundled default model (the first folder in ./models) and a random-weight ResNet-9 ngf 64 (the
 * official architecture, built by the exporter's ONNX builder). For each model it times
 *   - the server: POST /translate of a size×size PNG at size=original, one request at a time
 *     (X-Inference-Time-Ms and the whole request);
 *   - the page in headless Chromium on wasm with 1 thread and with every core
 *     (navigator.hardwareConcurrency; the app sends COOP/COEP so threads are allowed): the
 *     generator run and the whole translation as the page reports them (decode to PNG).
 * Medians of --runs after one warm-up run. Other processes on the machine change the numbers:
 * the load average is reported before and after.
 */
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { z } from 'zod';
import { runCommand, type CommandContext } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { createApp } from '../serve/app';
import { loadConfig } from '../serve/config';
import { ModelRepository } from '../serve/modelRepository';
import { firstModelFolder } from '../web/buildStatic';
import { launchChromium } from '../tests/helpers/browserPage';
import { noiseImage, writeTinyModel } from '../tests/helpers/tinyModel';

const schema = z
  .object({
    runs: field.int(1).default(5).describe('timed runs per configuration (after one warm-up)'),
    size: field.int(1).default(256).describe('square image side (processing size)'),
  })
  .strict();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Row {
  model: string;
  where: string;
  generatorMs: number;
  totalMs: number;
}

async function timeServer(base: string, model: string, image: Buffer, runs: number): Promise<Row> {
  const gen: number[] = [];
  const total: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const body = new FormData();
    body.append('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'x.png');
    const t0 = performance.now();
    const r = await fetch(`${base}/translate?model=${model}&dir=AtoB&size=original`, { method: 'POST', body });
    await r.arrayBuffer();
    if (!r.ok) throw new Error(`server: ${r.status}`);
    if (i === 0) continue;
    total.push(performance.now() - t0);
    gen.push(Number(r.headers.get('X-Inference-Time-Ms')));
  }
  return { model, where: 'server (onnxruntime-node, cpu)', generatorMs: median(gen), totalMs: median(total) };
}

async function timeBrowser(
  log: (m: string) => void,
  base: string,
  model: string,
  image: Buffer,
  runs: number,
  threads: number,
): Promise<Row> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && log(`page console: ${m.text()}`));
    await page.goto(`${base}/?model=${model}&backend=wasm&threads=${threads}`);
    await page
      .waitForFunction(
        (m) => new RegExp(`runs ${m} `).test(document.getElementById('runon-note')!.textContent ?? ''),
        model,
        { timeout: 300_000 },
      )
      .catch(async (e) => {
        throw new Error(
          `${model} did not load in the page: ${await page.textContent('#runon-note')} / ${await page.textContent('#status')} (${e.message})`,
        );
      });
    await page.selectOption('#size', 'original');
    const gen: number[] = [];
    const total: number[] = [];
    for (let i = 0; i <= runs; i++) {
      await page.setInputFiles('#file', { name: `run${i}.png`, mimeType: 'image/png', buffer: image });
      await page.waitForFunction(
        () => /^Done\.$|error/i.test(document.getElementById('status')!.textContent ?? ''),
        undefined,
        {
          timeout: 600_000,
        },
      );
      const caption = (await page.textContent('#output-caption')) ?? '';
      const m = /generator ([\d.]+) ms · total (\d+) ms/.exec(caption);
      if (!m) throw new Error(`browser: ${await page.textContent('#status')} ${caption}`);
      if (i === 0) continue;
      gen.push(Number(m[1]));
      total.push(Number(m[2]));
    }
    const note = (await page.textContent('#runon-note')) ?? '';
    const used = /wasm \(SIMD, (\d+) thread/.exec(note)?.[1] ?? '?';
    return { model, where: `Chromium, wasm SIMD, ${used} thread(s)`, generatorMs: median(gen), totalMs: median(total) };
  } finally {
    await browser.close();
  }
}

async function main(o: z.output<typeof schema>, { log }: CommandContext): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-browser-'));
  let server: Server | undefined;
  let repo: ModelRepository | undefined;
  try {
    const bundled = await firstModelFolder('models');
    await fs.symlink(path.resolve(bundled), path.join(dir, path.basename(bundled)));
    await writeTinyModel(dir, {
      name: 'resnet9-ngf64',
      ngf: 64,
      nBlocks: 9,
      preferredSize: o.size,
      directions: ['AtoB'],
    });
    const config = loadConfig({}, { MODELS_DIR: dir, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'warn' });
    repo = new ModelRepository(config, pino({ level: 'warn' }));
    await repo.load();
    server = createApp(config, repo, { logger: pino({ level: 'warn' }) }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const image = await noiseImage(o.size, o.size, 'png', 5);
    const loadBefore = os.loadavg();
    const rows: Row[] = [];
    for (const model of [...repo.models.keys()]) {
      log(`${model}: server`);
      rows.push(await timeServer(base, model, image, o.runs));
      for (const threads of [1, os.availableParallelism()]) {
        log(`${model}: Chromium, wasm, ${threads} thread(s)`);
        rows.push(await timeBrowser(log, base, model, image, o.runs, threads));
      }
    }
    const loadAfter = os.loadavg();
    const result = {
      size: `${o.size}x${o.size}`,
      runs: o.runs,
      cores: os.availableParallelism(),
      cpu: os.cpus()[0]?.model,
      loadavg: { before: loadBefore.map((x) => +x.toFixed(2)), after: loadAfter.map((x) => +x.toFixed(2)) },
      rows,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n\n`);
    process.stdout.write(
      '| model | where | generator (median ms) | whole translation (median ms) |\n| --- | --- | ---: | ---: |\n',
    );
    for (const r of rows)
      process.stdout.write(`| ${r.model} | ${r.where} | ${r.generatorMs.toFixed(0)} | ${r.totalMs.toFixed(0)} |\n`);
  } finally {
    server?.closeAllConnections();
    if (server) await new Promise((r) => server!.close(r));
    await repo?.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module)
  runCommand(
    {
      name: 'bench:browser',
      program: 'npm run bench:browser --',
      summary: 'Time per image: the page on wasm (1 and all threads) in Chromium beside the server, two models.',
      schema,
      exit: 'immediately',
    },
    main,
  );
