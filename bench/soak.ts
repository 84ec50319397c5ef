/**
 * Soak and fault benchmark: `npm run bench:soak -- [--duration 600] [--clients 32] [--swap_every 30]`.
 *
 * Starts `serve/main.ts` (MODEL_CONTROL=poll) on a models directory of small ResNet generators with
 * tiling graphs, and drives it with autocannon's API (Buffer bodies; its CLI corrupts binary ones)
 * for `duration` seconds at `clients` connections, each cycling through a mix of requests:
 * small images (Twemoji from examples/, size=native) and photos (768×576 JPEG of gradients and
 * grain, size=original: above TILE_PIXELS, so tiled) on POST /translate and on the Open Inference Protocol's JSON
 * form, and bad inputs (bytes that are no image, a truncated PNG, a bad parameter, an unknown
 * model). Every good request names a model the server listed last (polled every half second).
 * Meanwhile model folders are added (at ½ and 1½ × swap_every) and then replaced, one every
 * `swap_every` seconds, as `npm run export` writes them (export/atomicFolder.ts).
 *
 * Each version written is opened in this process first (serve/modelRepository.ts, the server's
 * own loading code and settings) to compute the answer it must give for the small image and the
 * photo. The checks, each failing the run (exit 1):
 *   - no 5xx answer and no connection error or client timeout;
 *   - no answer later than REQUEST_TIMEOUT_MS (+ 1 s for the transfer) after it was sent;
 *   - RSS flat: the mean over the last window (60 s, or duration/5 when shorter) within 10 % of
 *     the mean over the second window;
 *   - every answer correct for the version it names (X-Model-Version): an OIP answer's image equals
 *     that version's (pixels within 2 grey levels: batching may round differently), a /translate
 *     answer names a version written for that model; bad inputs answered 4xx.
 * Prints JSON: requests, statuses, 503 share, p50/p99 overall and per window, RSS over time.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { writeFolderAtomically } from '../export/atomicFolder';
import { folderVersion } from '../inference/modelFolderStage';
import { parseSizeMode } from '../inference/preprocess';
import { parseTileChoice } from '../inference/tiling/tiledTranslate';
import { loadConfig } from '../serve/config';
import { ModelRepository } from '../serve/modelRepository';
import { writeTinyModel } from '../tests/helpers/tinyModel';
import { startServerProcess } from './serverProcess';

type Headers = Record<string, string>;
/** autocannon's per-connection context: the model the request in flight names. */
interface ClientContext {
  model?: string;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers?: Headers;
  body?: Buffer;
  setupRequest?: (req: AutocannonRequest, context: ClientContext) => AutocannonRequest;
  onResponse?: (status: number, body: string, context: ClientContext, headers: Headers) => void;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number; max: number };
}
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  stop(): void;
}
// autocannon ships no type declarations; its promise API and 'response' events are all we use.
const autocannon = createRequire(__filename)('autocannon') as (opts: Record<string, unknown>) => AutocannonInstance;

const ROOT = path.join(__dirname, '..');
const TIMEOUT_MS = 30_000;
const PIXEL_TOLERANCE = 2;

const benchSoakSchema = z
  .object({
    duration: field.intRange(10, 86_400).default(600).describe('seconds of load'),
    clients: field.int(1).default(32).describe('concurrent connections'),
    swap_every: field.intRange(2, 3600).default(30).describe('seconds between model folder changes'),
    sample_every: field.int(1).default(10).describe('seconds between RSS samples'),
  })
  .strict();
type SoakOptions = z.infer<typeof benchSoakSchema>;

const log = (msg: string) => process.stderr.write(`[bench:soak] ${msg}\n`);

/** A 768×576 "photo": smooth gradients with grain (σ≈6 grey levels), as JPEG. */
async function photoJpeg(): Promise<Buffer> {
  const w = 768;
  const h = 576;
  const raw = Buffer.alloc(w * h * 3);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const g = [(x / w) * 255, (y / h) * 255, ((x + y) / (w + h)) * 255];
      for (let c = 0; c < 3; c++)
        raw[i + c] = Math.max(0, Math.min(255, Math.round(g[c] + 6 * (rnd() + rnd() + rnd()))));
    }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

interface Expected {
  name: string;
  small: Buffer;
  photo: Buffer;
}

async function pixelsOf(png: Buffer): Promise<Buffer> {
  return (await sharp(png).raw().toBuffer({ resolveWithObject: true })).data;
}

async function main(o: SoakOptions): Promise<number> {
  const loadAtStart = os.loadavg();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-soak-'));
  const modelsDir = path.join(work, 'models');
  const scratch = path.join(work, 'scratch');
  await fs.mkdir(modelsDir);
  await fs.mkdir(scratch);
  const small = await fs.readFile(path.join(ROOT, 'examples', 'twemoji', 'grinning-face.png'));
  const photo = await photoJpeg();
  const expected = new Map<string, Expected>();
  const config = loadConfig({}, { MODELS_DIR: scratch, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
  let seed = 100;

  /** Writes a new version of `name` into MODELS_DIR, after computing what it must answer. */
  async function writeVersion(name: string): Promise<string> {
    const here = await fs.mkdtemp(path.join(scratch, 'v-'));
    await writeTinyModel(here, { name, seed: seed++, ngf: 8, nBlocks: 2, preferredSize: 64, tiling: true });
    const dir = path.join(here, name);
    const version = await folderVersion(dir);
    const repo = new ModelRepository({ ...config, MODELS_DIR: here }, pino({ level: 'silent' }));
    await repo.load();
    const model = repo.models.get(name);
    if (!model) throw new Error(`reference load of ${name} failed: ${JSON.stringify(repo.failures)}`);
    const run = (bytes: Buffer, size: string) =>
      model.translate(bytes, {
        direction: 'AtoB',
        size: parseSizeMode(size),
        fit: 'original',
        format: 'png',
        png: config.PNG_COMPRESSION,
        tile: parseTileChoice('auto'),
      });
    expected.set(version, {
      name,
      small: (await run(small, 'native')).bytes,
      photo: (await run(photo, 'original')).bytes,
    });
    await repo.close();
    await writeFolderAtomically(path.join(modelsDir, name), async (tmp) => {
      for (const f of await fs.readdir(dir)) await fs.copyFile(path.join(dir, f), path.join(tmp, f));
    });
    await fs.rm(here, { recursive: true, force: true });
    return version;
  }

  log('writing the first model versions');
  await writeVersion('stable');
  await writeVersion('churn');

  const { child, base } = await startServerProcess({
    MALLOC_MMAP_THRESHOLD_: '131072',
    MODELS_DIR: modelsDir,
    EXECUTION_PROVIDERS: 'cpu',
    MODEL_CONTROL: 'poll',
    REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  const failures: string[] = [];
  try {
    // What the server lists now: good requests go to these models.
    let listed = ['stable', 'churn'];
    const lister = setInterval(() => {
      fetch(`${base}/v1/models`)
        .then((r) => r.json() as Promise<{ models: { name: string }[] }>)
        .then((b) => {
          if (b.models.length > 0) listed = b.models.map((m) => m.name);
        })
        .catch(() => undefined);
    }, 500);
    let pick = 0;
    const anyModel = () => listed[pick++ % listed.length];

    const counts = { requests: 0, byStatus: {} as Record<string, number>, checkedImages: 0, exactImages: 0 };
    const versionsSeen = new Set<string>();
    let worstPixelDiff = 0;
    const fail = (what: string) => {
      if (failures.length < 50) failures.push(what);
    };
    const pendingChecks: Promise<void>[] = [];

    const good = (kind: 'translate' | 'oip', input: 'small' | 'photo'): AutocannonRequest => {
      const size = input === 'small' ? 'native' : 'original';
      const body =
        kind === 'translate'
          ? input === 'small'
            ? small
            : photo
          : Buffer.from(
              JSON.stringify({
                inputs: [
                  {
                    name: 'image',
                    shape: [1],
                    datatype: 'BYTES',
                    data: [(input === 'small' ? small : photo).toString('base64')],
                  },
                ],
                parameters: { size, format: 'png', fit: 'original' },
              }),
            );
      return {
        method: 'POST',
        path: '/',
        headers: {
          'content-type': kind === 'translate' ? (input === 'small' ? 'image/png' : 'image/jpeg') : 'application/json',
        },
        body,
        setupRequest: (req, ctx) => {
          const model = (ctx.model = anyModel());
          const p =
            kind === 'translate'
              ? `/translate?model=${model}&size=${size}&format=png`
              : `/v2/models/${model}_AtoB/infer`;
          return { ...req, path: p };
        },
        onResponse: (status, text, ctx, headers) => {
          const model = ctx.model ?? '?';
          if (status === 503) return;
          if (status !== 200) return fail(`${kind} ${input} on ${model}: ${status} ${text.slice(0, 200)}`);
          const version = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-model-version')?.[1] ?? '';
          const want = expected.get(version);
          versionsSeen.add(version);
          if (!want || want.name !== model)
            return fail(`${kind} on ${model} named version ${version}, not one of its own`);
          if (kind === 'translate') return;
          const got = Buffer.from((JSON.parse(text) as { outputs: { data: string[] }[] }).outputs[0].data[0], 'base64');
          const ref = input === 'small' ? want.small : want.photo;
          counts.checkedImages++;
          if (got.equals(ref)) {
            counts.exactImages++;
            return;
          }
          pendingChecks.push(
            (async () => {
              const [a, b] = await Promise.all([pixelsOf(got), pixelsOf(ref)]);
              let worst = a.length === b.length ? 0 : 255;
              for (let i = 0; i < Math.min(a.length, b.length); i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
              worstPixelDiff = Math.max(worstPixelDiff, worst);
              if (worst > PIXEL_TOLERANCE)
                fail(`OIP ${input} on ${model} differs from version ${version} by ${worst} grey levels`);
            })().catch((e) => fail(`OIP ${input} on ${model}: ${(e as Error).message}`)),
          );
        },
      };
    };
    const bad = (what: string, req: AutocannonRequest): AutocannonRequest => ({
      ...req,
      onResponse: (status, text) => {
        if (status < 400 || status >= 500) fail(`bad input (${what}) answered ${status}: ${text.slice(0, 200)}`);
      },
    });
    const requests: AutocannonRequest[] = [
      good('translate', 'small'),
      good('oip', 'small'),
      good('translate', 'small'),
      bad('not an image', {
        method: 'POST',
        path: '/translate?model=stable',
        headers: { 'content-type': 'image/png' },
        body: Buffer.from('this is not a PNG at all'),
      }),
      good('translate', 'photo'),
      good('oip', 'small'),
      bad('truncated PNG', {
        method: 'POST',
        path: '/translate?model=stable',
        headers: { 'content-type': 'image/png' },
        body: small.subarray(0, Math.floor(small.length / 2)),
      }),
      good('oip', 'photo'),
      bad('size=0', {
        method: 'POST',
        path: '/translate?model=stable&size=0',
        headers: { 'content-type': 'image/png' },
        body: small,
      }),
      good('translate', 'small'),
      bad('unknown model', {
        method: 'POST',
        path: '/translate?model=no-such-model',
        headers: { 'content-type': 'image/png' },
        body: small,
      }),
    ];

    // RSS of the server process (its worker threads included) and the answers so far, over time.
    const t0 = Date.now();
    const rss: { s: number; mb: number; requests: number }[] = [];
    const latencies: { s: number; ms: number }[] = [];
    const sampleRss = async () => {
      const status = await fs.readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      rss.push({ s: Math.round((Date.now() - t0) / 1000), mb: +(kb / 1024).toFixed(1), requests: counts.requests });
    };
    await sampleRss();
    const sampler = setInterval(() => void sampleRss(), o.sample_every * 1000);

    // Folder changes: two added, then one replaced every swap_every seconds.
    const changes: { s: number; folder: string; version: string; action: string }[] = [];
    let stopChanges = false;
    const changer = (async () => {
      const at = (s: number) => new Promise((r) => setTimeout(r, Math.max(0, t0 + s * 1000 - Date.now())));
      const plan: [number, string, string][] = [
        [o.swap_every / 2, 'added1', 'added'],
        [(o.swap_every * 3) / 2, 'added2', 'added'],
      ];
      const names = ['churn', 'stable', 'added1', 'added2'];
      for (let k = 0, s = o.swap_every * 2; s < o.duration - o.swap_every; k++, s += o.swap_every)
        plan.push([s, names[k % names.length], 'replaced']);
      for (const [s, folder, action] of plan) {
        await at(s);
        if (stopChanges) return;
        const version = await writeVersion(folder);
        changes.push({ s: Math.round((Date.now() - t0) / 1000), folder, version, action });
        log(`${action} ${folder} → version ${version}`);
      }
    })();

    log(`${o.clients} clients for ${o.duration} s`);
    const run = autocannon({
      url: base,
      connections: o.clients,
      duration: o.duration,
      timeout: TIMEOUT_MS / 1000 + 10,
      requests,
    });
    run.on('response', (_client, status, _bytes, ms) => {
      counts.requests++;
      counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
      latencies.push({ s: (Date.now() - t0) / 1000, ms });
      if (status >= 500 && status !== 503) fail(`a ${status} answer`);
      if (ms > TIMEOUT_MS + 1000) fail(`an answer after ${Math.round(ms)} ms, past REQUEST_TIMEOUT_MS=${TIMEOUT_MS}`);
    });
    const result = await run;
    stopChanges = true;
    clearInterval(sampler);
    clearInterval(lister);
    await changer;
    await Promise.all(pendingChecks);
    await sampleRss();

    // The server answered 503 to new work only with a reason (overloaded/timeout) and never 5xx otherwise.
    if (result.errors > 0 || result.timeouts > 0)
      fail(`${result.errors} connection errors and ${result.timeouts} client timeouts`);
    const window = Math.min(60, o.duration / 5);
    const meanRss = (from: number, to: number) => {
      const xs = rss.filter((r) => r.s >= from && r.s <= to).map((r) => r.mb);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
    };
    const second = meanRss(window, 2 * window);
    const last = meanRss(o.duration - window, o.duration + o.sample_every);
    const rssRatio = last / second;
    if (!(Math.abs(rssRatio - 1) <= 0.1))
      fail(`RSS not flat: last window ${last.toFixed(0)} MB against ${second.toFixed(0)} MB in the second`);
    for (const c of changes)
      if (!versionsSeen.has(c.version) && c.s < o.duration - o.swap_every)
        fail(`version ${c.version} of ${c.folder} (written at ${c.s} s) never answered a request`);

    const pct = (xs: number[], p: number) => {
      if (xs.length === 0) return null;
      const s = [...xs].sort((a, b) => a - b);
      return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(1);
    };
    const perWindow = [];
    for (let from = 0; from < o.duration; from += window) {
      const ms = latencies.filter((l) => l.s >= from && l.s < from + window).map((l) => l.ms);
      perWindow.push({ fromS: from, requests: ms.length, p50Ms: pct(ms, 50), p99Ms: pct(ms, 99) });
    }
    const all = latencies.map((l) => l.ms);
    const n503 = counts.byStatus['503'] ?? 0;
    // A server that died during the run has exited already: no 'exit' event would come.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    const code = child.exitCode ?? child.signalCode;
    if (code !== 0) fail(`the server exited with ${code} (0 expected after SIGTERM)`);
    const report = {
      settings: {
        durationSeconds: o.duration,
        clients: o.clients,
        swapEverySeconds: o.swap_every,
        requestTimeoutMs: TIMEOUT_MS,
        model: 'resnet_2blocks ngf 8 (random weights), tiling graphs; 64² native',
        inputs: 'Twemoji 72² PNG at size=native, 768×576 JPEG photo at size=original (tiled), 4 bad inputs',
        host: { cpus: os.cpus().length, node: process.version },
        loadAverage: { start: loadAtStart.map((l) => +l.toFixed(2)), end: os.loadavg().map((l) => +l.toFixed(2)) },
      },
      requests: counts.requests,
      byStatus: counts.byStatus,
      share503: counts.requests ? +(n503 / counts.requests).toFixed(4) : null,
      latencyMs: { p50: pct(all, 50), p99: pct(all, 99), max: pct(all, 100) },
      perWindow,
      rssMb: rss,
      rssLastOverSecondWindow: +rssRatio.toFixed(3),
      imagesChecked: counts.checkedImages,
      imagesExact: counts.exactImages,
      worstPixelDiff,
      folderChanges: changes,
      versionsAnswered: versionsSeen.size,
      serverExitCode: code,
      failures,
      passed: failures.length === 0,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    child.kill('SIGTERM');
    await fs.rm(work, { recursive: true, force: true });
  }
  return failures.length > 0 ? 1 : 0;
}

runCommand(
  {
    name: 'bench:soak',
    program: 'npm run bench:soak --',
    summary:
      'Soak and fault benchmark: clients mixing images, photos and bad inputs while model folders are added and replaced; prints JSON, exits 1 when a check fails.',
    schema: benchSoakSchema,
    exit: 'immediately',
  },
  main,
);
