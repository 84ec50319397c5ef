/**
 * `npm start` as the real process, with the start script's own environment (package.json) and the
 * default execution providers: a quiet start on a machine without a GPU, and memory that comes
 * back after a large request (RSS read from /proc, Linux only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { npmStartCommand, procMemoryMb } from '../../bench/processMemory';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../helpers/tinyModel';

const ROOT = path.join(__dirname, '..', '..');
const hasProc = existsSync('/proc/self/status');
const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
const hasGpuNode = list('/dev/dri').some((f) => /^renderD/.test(f)) || list('/dev').some((f) => /^nvidia\d/.test(f));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let models: TinyRepo;
let child: ChildProcess;
let output = '';
let url: string;

beforeAll(async () => {
  models = await createTinyModelRepo([{ name: 'tiny', preferredSize: 64 }]);
  const start = npmStartCommand();
  // node itself (not a wrapper), so child.pid is the server's own process.
  child = spawn(process.execPath, start.args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...start.env,
      HOST: '127.0.0.1',
      PORT: '0',
      MODELS_DIR: models.dir,
      ORT_INTRA_OP_THREADS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (d) => (output += d));
  url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      output += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`server exited: ${output}`)));
  });
  for (let i = 0; (await fetch(`${url}/readyz`)).status !== 200; i++) {
    if (i > 600) throw new Error(`not ready: ${output}`);
    await sleep(100);
  }
}, 120_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await models?.cleanup();
});

async function translate(image: Buffer, query: string): Promise<number> {
  const r = await fetch(`${url}/translate?${query}`, {
    method: 'POST',
    body: new Uint8Array(image),
    headers: { 'content-type': 'application/octet-stream' },
  });
  await r.arrayBuffer();
  return r.status;
}

(hasGpuNode ? it.skip : it)('starts quietly without a GPU: WebGPU is not probed, one line says why', () => {
  expect(output).not.toMatch(/XDG_RUNTIME_DIR|vulkan/i);
  const lines = output.split('\n').filter((l) => l.includes('webgpu unavailable: '));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/webgpu unavailable: not probed: no GPU device node/);
});

(hasProc ? it : it.skip)(
  'gives the memory of a large request back: RSS within 25 % of idle a few seconds later',
  async () => {
    const small = await noiseImage(64, 64, 'png', 1);
    for (let i = 0; i < 3; i++) expect(await translate(small, 'size=native')).toBe(200);
    await sleep(1000);
    const idle = procMemoryMb(child.pid!);
    // 1500x1000 at size=original: the network runs on 1.5 MP (23x the warm-up size).
    const large = await noiseImage(1500, 1000, 'jpeg', 2);
    expect(await translate(large, 'size=original')).toBe(200);
    const after: number[] = [];
    for (let i = 0; i < 20; i++) {
      after.push(procMemoryMb(child.pid!));
      if (after[after.length - 1] <= idle * 1.25) break;
      await sleep(250);
    }
    expect(after[after.length - 1]).toBeLessThanOrEqual(idle * 1.25);
  },
  120_000,
);
