/**
 * Memory after a large request: `node --import tsx bench/memory.ts [--width 4000 --height 3000]`,
 * prints JSON. Starts the server as `npm start` does (the start script's environment, node itself so
 * the PID is the server's), with a tiny generator (preferred size 64); reads VmRSS from /proc
 * (Linux) when idle after three small requests, then after one `size=original` request of the
 * given size, every 0.5 s for 5 s. The bar: back within 25 % of idle within a few seconds.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { noiseImage, writeTinyModel } from '../tests/helpers/tinyModel';
import { npmStartCommand, procMemoryMb } from './processMemory';

const benchMemorySchema = z
  .object({
    width: field.int(1).default(4000).describe('large request width'),
    height: field.int(1).default(3000).describe('large request height'),
  })
  .strict();

const rssMb = (pid: number) => procMemoryMb(pid);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(o: z.output<typeof benchMemorySchema>): Promise<void> {
  const { env: startEnv, args } = npmStartCommand();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-memory-'));
  await writeTinyModel(dir, { name: 'tiny', preferredSize: 64 });
  const child = spawn(process.execPath, args, {
    cwd: path.join(__dirname, '..'),
    env: { ...process.env, ...startEnv, HOST: '127.0.0.1', PORT: '0', MODELS_DIR: dir, REQUEST_TIMEOUT_MS: '600000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        const hit = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
        if (hit) resolve(hit[1]);
      });
      child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    while ((await fetch(`${url}/readyz`)).status !== 200) await sleep(100);
    const post = async (body: Buffer, query: string) => {
      const r = await fetch(`${url}/translate?${query}`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: { 'content-type': 'application/octet-stream' },
      });
      await r.arrayBuffer();
      return r.status;
    };
    const small = await noiseImage(64, 64, 'png', 1);
    for (let i = 0; i < 3; i++) await post(small, 'size=native');
    await sleep(1000);
    const idle = rssMb(child.pid!);
    const w = o.width;
    const h = o.height;
    const large = await sharp({
      create: {
        width: w,
        height: h,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .jpeg({ quality: 85 })
      .toBuffer();
    const t0 = performance.now();
    const status = await post(large, 'size=original');
    if (status !== 200) throw new Error(`the large request got HTTP ${status}`);
    const ms = performance.now() - t0;
    const after: { s: number; rssMb: number }[] = [];
    for (let i = 0; i <= 10; i++) {
      after.push({ s: i / 2, rssMb: Math.round(rssMb(child.pid!)) });
      await sleep(500);
    }
    const last = after[after.length - 1].rssMb;
    console.log(
      JSON.stringify(
        {
          request: `${w}x${h} JPEG, size=original`,
          status,
          requestMs: Math.round(ms),
          startEnv,
          idleRssMb: Math.round(idle),
          after,
          finalOverIdle: +(last / idle - 1).toFixed(3),
          withinBar: last <= idle * 1.25,
        },
        null,
        2,
      ),
    );
  } finally {
    child.kill('SIGTERM');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

runCommand(
  {
    name: 'bench:memory',
    program: 'node --import tsx bench/memory.ts',
    summary: 'Server RSS when idle and after one large size=original request; prints JSON.',
    schema: benchMemorySchema,
  },
  main,
);
