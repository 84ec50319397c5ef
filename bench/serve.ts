/**
 * Serving benchmark: `npm run bench:serve -- [--duration 20] [--concurrency 1,4,16]`, prints JSON.
 *
 * Builds a random-weight CycleGAN generator (default resnet_9blocks, ngf 64: the official
 * architecture, so timings are representative of a trained model) with the exporter's ONNX
 * builder, then
 *   1. measures bare onnxruntime throughput on it (same process, no HTTP), batch 1 and batch 4;
 *   2. starts `serve/main.ts` on 127.0.0.1 (random port) and drives POST /translate with
 *      autocannon at each concurrency, for a bounded duration each, sending a 256×256 PNG;
 *   3. reads the server's /metrics before and after each level to split the time per request
 *      into decode / preprocess / queue / inference / encode, and the mean batch size;
 *   4. backpressure: --overload_connections (default 64) clients posting 32×32 PNGs at
 *      size=original with the default MAX_QUEUE and REQUEST_TIMEOUT_MS, and reports the share of
 *      503 answers (refused only when the expected wait would pass the timeout) and the latency.
 * With --protocol v2, each concurrency level also drives the Open Inference Protocol's binary form
 * (POST /v2/models/bench_AtoB/infer with the PNG as a BYTES element after the JSON header and the
 * output asked in binary, the request tritonclient.http sends) right after /translate, and reports
 * both side by side (`oip`, `v2OverTranslate`).
 * Everything runs on the CPU provider unless --providers says otherwise. autocannon counts only
 * responses that arrive within the duration, so it must be several times the latency at the
 * highest concurrency (about 16 × one inference) for the numbers to mean anything.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { float32Tensor } from '../core/onnx/ortRuntime';
import { EXECUTION_PROVIDERS, type ExecutionProviderName } from '../core/onnx/ortRuntime';
import { openSession } from '../inference/providers';
import { serializeBytes } from '../serve/oip/wire';
import { noiseImage, writeTinyModel } from '../tests/helpers/tinyModel';
import { startServerProcess } from './serverProcess';

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats?: Record<string, { count: number }>;
  latency: { p50: number; p99: number; average: number; max: number };
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
// autocannon ships no type declarations; its promise API is all we use.
const autocannon = createRequire(__filename)('autocannon') as Autocannon;

const STAGES = ['decode', 'preprocess', 'queue', 'inference', 'encode'] as const;

const benchServeSchema = z
  .object({
    duration: field
      .number((n) => n > 0, 'must be a number > 0')
      .default(20)
      .describe('seconds per concurrency level (and per bare batch size)'),
    concurrency: field.intList(1).default([1, 4, 16]).describe('comma-separated connection counts'),
    size: field.int(1).default(256).describe('square input image side (and model preferred size)'),
    ngf: field.int(1).default(64).describe('generator width'),
    blocks: field.int(1).default(9).describe('residual blocks'),
    max_batch: field.int(1).default(4).describe('server MAX_BATCH (and GPU_MAX_BATCH)'),
    batch_delay: field
      .number((n) => n >= 0, 'must be a number >= 0')
      .default(5)
      .describe('server MAX_BATCH_DELAY_MS'),
    providers: field.list(EXECUTION_PROVIDERS).default(['cpu']).describe('EXECUTION_PROVIDERS for both measurements'),
    skip_bare: field.boolean().default(false).describe('skip the bare onnxruntime measurement'),
    overload_connections: field.int(1).default(64).describe('clients for the backpressure phase (32×32 PNGs)'),
    protocol: field
      .enum(['translate', 'v2'])
      .default('translate')
      .describe('v2: also the OIP binary form (/v2/models/{model}/infer) beside /translate at each concurrency'),
    overload_duration: field
      .number((n) => n > 0, 'must be a number > 0')
      .default(10)
      .describe('seconds of the backpressure phase'),
  })
  .strict();

let o: z.output<typeof benchServeSchema>;
let duration: number;
let levels: number[];
let size: number;
let ngf: number;
let blocks: number;
let providers: ExecutionProviderName[];

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function bareOnnxruntime(file: string, batch: number) {
  const { session, provider } = await openSession(file, providers, {
    intraOpThreads: 0,
    interOpThreads: 0,
    graphOptimization: 'all',
    cpuMemArena: true,
    memPattern: true,
  });
  const dims = [batch, 3, size, size];
  const x = float32Tensor(
    new Float32Array(dims.reduce((a, b) => a * b)).map(() => Math.random() * 2 - 1),
    dims,
  );
  await session.run({ input: x }); // warm-up
  const times: number[] = [];
  const end = performance.now() + duration * 1000;
  while (performance.now() < end || times.length < 2) {
    const t0 = performance.now();
    await session.run({ input: x });
    times.push(performance.now() - t0);
  }
  await session.release();
  times.sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  return {
    provider,
    batch,
    runs: times.length,
    imagesPerSecond: +((batch * times.length) / (total / 1000)).toFixed(2),
    msPerRunP50: +percentile(times, 50).toFixed(1),
    msPerRunP99: +percentile(times, 99).toFixed(1),
  };
}

/** Sums and counts of the per-stage histogram and the batch-size histogram from /metrics. */
async function scrape(base: string) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const stages = Object.fromEntries(
    STAGES.map((s) => [
      s,
      {
        sum: value(new RegExp(`translate_stage_duration_seconds_sum\\{stage="${s}",model="bench"\\} ([\\d.e+-]+)`)),
        count: value(new RegExp(`translate_stage_duration_seconds_count\\{stage="${s}",model="bench"\\} (\\d+)`)),
      },
    ]),
  ) as Record<(typeof STAGES)[number], { sum: number; count: number }>;
  return {
    stages,
    batchSum: value(/inference_batch_size_sum\{model="bench",direction="AtoB"\} ([\d.]+)/),
    batchCount: value(/inference_batch_size_count\{model="bench",direction="AtoB"\} (\d+)/),
  };
}

/** Waits until the server has no queued or running requests (autocannon abandons in-flight ones at the end). */
async function waitIdle(base: string): Promise<void> {
  for (;;) {
    const text = await (await fetch(`${base}/metrics`)).text();
    const busy = /inference_(queue_depth|in_flight)\{model="bench"\} [1-9]/.test(text);
    if (!busy) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const loadAtStart = os.loadavg();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-serve-'));
  const server = { kill: (): void => undefined };
  try {
    log(`building resnet_${blocks}blocks ngf ${ngf} with random weights (export/onnxBuilder.ts)`);
    await writeTinyModel(dir, { name: 'bench', ngf, nBlocks: blocks, preferredSize: size, directions: ['AtoB'] });
    const onnxFile = path.join(dir, 'bench', 'AtoB.onnx');
    const image = await noiseImage(size, size, 'png', 42);

    log(`bare onnxruntime, ${duration}s per batch size`);
    const bare = o.skip_bare ? [] : [await bareOnnxruntime(onnxFile, 1), await bareOnnxruntime(onnxFile, 4)];

    log('starting serve/main.ts on 127.0.0.1');
    const { child, base } = await startServerProcess({
      MODELS_DIR: dir,
      EXECUTION_PROVIDERS: o.providers.join(','),
      MAX_BATCH: String(o.max_batch),
      GPU_MAX_BATCH: String(o.max_batch),
      MAX_BATCH_DELAY_MS: String(o.batch_delay),
    });
    server.kill = () => void child.kill('SIGTERM');

    const url = `${base}/translate?model=bench&dir=AtoB`;
    const request = { url, method: 'POST', headers: { 'content-type': 'image/png' }, body: image, timeout: 120 };
    log('warm-up');
    await autocannon({ ...request, connections: 1, amount: 2 });

    // The OIP binary form of the same image, as tritonclient.http builds it (no Content-Type).
    const tensor = serializeBytes([image]);
    const oipHeader = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }],
        outputs: [{ name: 'image', parameters: { binary_data: true } }],
      }),
    );
    const oipRequest = {
      url: `${base}/v2/models/bench_AtoB/infer`,
      method: 'POST',
      headers: { 'inference-header-content-length': String(oipHeader.length) },
      body: Buffer.concat([oipHeader, tensor]),
      timeout: 120,
    };
    if (o.protocol === 'v2') await autocannon({ ...oipRequest, connections: 1, amount: 2 });

    const http = [];
    const oip = [];
    for (const connections of levels) {
      log(`autocannon: ${connections} connection(s), ${duration}s, /translate`);
      http.push(await measure(request, connections));
      if (o.protocol !== 'v2') continue;
      log(`autocannon: ${connections} connection(s), ${duration}s, OIP binary`);
      const v2 = await measure(oipRequest, connections);
      const t = http[http.length - 1];
      oip.push({
        ...v2,
        v2OverTranslate: {
          imagesPerSecond: +(v2.imagesPerSecond / t.imagesPerSecond).toFixed(3),
          latencyP50: +(v2.latencyMsP50 / t.latencyMsP50).toFixed(3),
          latencyP99: +(v2.latencyMsP99 / t.latencyMsP99).toFixed(3),
        },
      });
    }

    async function measure(req: Record<string, unknown>, connections: number) {
      const before = await scrape(base);
      const r = await autocannon({ ...req, connections, duration });
      await waitIdle(base);
      const after = await scrape(base);
      const n = after.stages.inference.count - before.stages.inference.count;
      const stageMs = Object.fromEntries(
        STAGES.map((s) => [s, n > 0 ? +(((after.stages[s].sum - before.stages[s].sum) / n) * 1000).toFixed(1) : null]),
      );
      const batches = after.batchCount - before.batchCount;
      return {
        connections,
        requests: r['2xx'],
        failures: r.non2xx + r.errors + r.timeouts,
        imagesPerSecond: +(r['2xx'] / r.duration).toFixed(2),
        latencyMsP50: r.latency.p50,
        latencyMsP99: r.latency.p99,
        meanMsPerRequest: stageMs,
        meanBatchSize: batches > 0 ? +((after.batchSum - before.batchSum) / batches).toFixed(2) : null,
      };
    }

    log(`backpressure: ${o.overload_connections} connections posting 32x32 PNGs, ${o.overload_duration}s`);
    const small = { ...request, url: `${url}&size=original`, body: await noiseImage(32, 32, 'png', 7) };
    await autocannon({ ...small, connections: 1, amount: 4 });
    const ov = await autocannon({ ...small, connections: o.overload_connections, duration: o.overload_duration });
    await waitIdle(base);
    const answered = Object.values(ov.statusCodeStats ?? {}).reduce((a, b) => a + b.count, 0);
    const refused = ov.statusCodeStats?.['503']?.count ?? 0;
    const backpressure = {
      connections: o.overload_connections,
      input: '32x32 PNG, size=original',
      responses: answered,
      ok: ov['2xx'],
      status503: refused,
      share503: answered > 0 ? +(refused / answered).toFixed(4) : null,
      latencyMsP50: ov.latency.p50,
      latencyMsP99: ov.latency.p99,
    };

    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    const result = {
      model: {
        netG: `resnet_${blocks}blocks`,
        ngf,
        weights: 'random (export/onnxBuilder.ts)',
        input: `${size}x${size} PNG`,
      },
      host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      settings: {
        providers,
        durationSeconds: duration,
        maxBatch: o.max_batch,
        maxBatchDelayMs: o.batch_delay,
        protocol: o.protocol,
        // 1/5/15-minute load averages of the host (shared with other work) before and after the run.
        loadAverage: { start: loadAtStart.map((l) => +l.toFixed(2)), end: os.loadavg().map((l) => +l.toFixed(2)) },
      },
      bareOnnxruntime: bare,
      http,
      ...(o.protocol === 'v2' && { oip }),
      backpressure,
      notes: [
        'meanMsPerRequest.inference is the run time of the batch the request was in (shared by meanBatchSize requests)',
        'queue is the wait for a batch to start; autocannon counts only responses that arrive within the duration',
      ],
      serverExitCode: code,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    server.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

runCommand(
  {
    name: 'bench:serve',
    program: 'npm run bench:serve --',
    summary: 'HTTP serving benchmark: bare onnxruntime, then POST /translate at each concurrency; prints JSON.',
    schema: benchServeSchema,
    placeholders: { concurrency: '<list>', providers: '<list>' },
  },
  async (opts) => {
    o = opts;
    ({ duration, concurrency: levels, size, ngf, blocks, providers } = opts);
    await main();
  },
);
