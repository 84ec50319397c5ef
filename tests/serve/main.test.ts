/**
 * `npm start` as a real process: start-up (quiet on a machine without CUDA), log format, config
 * errors, and graceful shutdown on signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import request from 'supertest';
import { missingProviderLibrary } from '../../core/onnx/providerLibraries';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../helpers/tinyModel';

const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

interface Proc {
  child: ChildProcess;
  url: Promise<string>;
  exit: Promise<number | null>;
  out: () => string;
  err: () => string;
}

function startServer(env: Record<string, string>): Proc {
  const child = spawn(TSX, ['serve/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`server exited before listening: ${err}`)));
  });
  url.catch(() => undefined);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, url, exit, out: () => out, err: () => err };
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await request(url)
      .get('/readyz')
      .catch(() => null);
    if (r?.status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('server never became ready');
}

async function waitQueued(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = await request(url).get('/metrics');
    if (/^inference_queue_depth\{[^}]*\} [1-9]/m.test(r.text)) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('the request never reached the queue');
}

let models: TinyRepo;
const procs: Proc[] = [];

beforeAll(async () => {
  models = await createTinyModelRepo([{ name: 'tiny' }]);
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await models.cleanup();
});

it('finishes the in-flight request on SIGTERM, refuses new connections, and exits 0', async () => {
  // A long batch delay keeps the request in flight (queued for companions) when the signal comes.
  const p = startServer({
    MODELS_DIR: models.dir,
    EXECUTION_PROVIDERS: 'cpu',
    MAX_BATCH: '8',
    MAX_BATCH_DELAY_MS: '2000',
  });
  procs.push(p);
  const url = await p.url;
  await waitReady(url);
  const image = await noiseImage(40, 30, 'png', 4);
  const t0 = Date.now();
  const inFlight = request(url)
    .post('/translate')
    .attach('image', image, 'p.png')
    .then((r) => r);
  // Signal only once the server holds the request (queued for companions), however slow the machine.
  await waitQueued(url);
  p.child.kill('SIGTERM');
  await new Promise((res) => setTimeout(res, 200));
  const refused = await request(url)
    .get('/healthz')
    .then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => e.code,
    );
  expect(refused).toBe('ECONNREFUSED');

  const res = await inFlight;
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('image/png');
  expect(Date.now() - t0).toBeGreaterThanOrEqual(1500); // it really was waiting when the signal came
  expect(await p.exit).toBe(0);
  expect(p.out()).toMatch(/SIGTERM: no longer accepting connections/);
  expect(p.out()).toMatch(/shutdown complete/);
});

it('exits 0 on SIGINT when idle', async () => {
  const p = startServer({ MODELS_DIR: models.dir, EXECUTION_PROVIDERS: 'cpu' });
  procs.push(p);
  await waitReady(await p.url);
  p.child.kill('SIGINT');
  expect(await p.exit).toBe(0);
});

it('starts without models, says so, and answers /readyz 503', async () => {
  const empty = await createTinyModelRepo([]);
  try {
    const p = startServer({ MODELS_DIR: empty.dir, EXECUTION_PROVIDERS: 'cpu' });
    procs.push(p);
    const url = await p.url;
    let r = await request(url).get('/readyz');
    for (let i = 0; i < 50 && /loading/.test(r.text); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await request(url).get('/readyz');
    }
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).detail).toMatch(/no models/);
    expect(p.out()).toMatch(/no models in .*\/readyz stays 503/);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
  } finally {
    await empty.cleanup();
  }
});

it('refuses a bad configuration with one line and exit code 2', async () => {
  const p = startServer({ MODELS_DIR: models.dir, MAX_BATCH: 'lots' });
  procs.push(p);
  expect(await p.exit).toBe(2);
  expect(p.err().trim()).toMatch(/^config: MAX_BATCH: .*\(got "lots"\)$/);
});

(missingProviderLibrary('cuda') === null ? it.skip : it)(
  'starts quietly without the CUDA provider libraries: no native onnxruntime error, no warning, cuda said once at info',
  async () => {
    // Default providers (cuda, webgpu, cpu); onnxruntime's own errors on, as an operator debugging would set it.
    const p = startServer({ MODELS_DIR: models.dir, ORT_LOG_LEVEL: 'error' });
    procs.push(p);
    // Polling /readyz while the models load (503s) is part of a quiet start too.
    await waitReady(await p.url);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    expect(p.err()).not.toContain('[E:onnxruntime');
    expect(p.err()).toBe('');
    const lines = p
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([]);
    const cuda = lines.filter((l) => /cuda/.test(l.msg));
    expect(cuda).toHaveLength(1);
    expect(cuda[0].level).toBe(30);
    expect(cuda[0].msg).toMatch(/cuda unavailable: not installed: no libonnxruntime_providers_shared\.so /);
  },
);

it('writes JSON log lines to a pipe, and readable ones with LOG_FORMAT=pretty', async () => {
  const p = startServer({ MODELS_DIR: models.dir, EXECUTION_PROVIDERS: 'cpu', LOG_FORMAT: 'pretty' });
  procs.push(p);
  await waitReady(await p.url);
  p.child.kill('SIGTERM');
  expect(await p.exit).toBe(0);
  const first = p.out().split('\n')[0];
  expect(first).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening on http:\/\/127\.0\.0\.1:\d+ /);
  expect(p.out()).toMatch(/\] INFO: shutdown complete\n$/);
});
