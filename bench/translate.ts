/**
 * Batch translation benchmark: `npm run bench:translate -- [--images 64] [--big_images 16]
 * [--batch_sizes 1,4] [--providers cpu]`, prints JSON.
 *
 * Generates a folder of 256×256 noise PNGs and two random-weight generators built with the
 * exporter's ONNX builder: `big` is the official resnet_9blocks, ngf 64 (timings representative of
 * a trained model, inference-bound) and `small` is ngf 8 with one residual block (so reading,
 * decoding, encoding and writing dominate). For each model and batch size it runs
 * translateTree (what `npm run translate` runs) with --overwrite into a temp folder and reports
 * images/s over the run (model loading excluded) and mean milliseconds per image per stage; the
 * same number of images through a bare onnxruntime session gives the inference-only ceiling.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { float32Tensor } from '../core/onnx/ortRuntime';
import { EXECUTION_PROVIDERS, type ExecutionProviderName } from '../core/onnx/ortRuntime';
import { openSession } from '../inference/providers';
import { translateTree } from '../translate/translateTree';
import { noiseImage, writeTinyModel } from '../tests/helpers/tinyModel';

const SIZE = 256;

const benchTranslateSchema = z
  .object({
    images: field.int(1).default(64).describe('images in the folder for the small model'),
    big_images: field.int(1).default(16).describe('how many of them the big (resnet_9blocks ngf 64) model translates'),
    batch_sizes: field.intList(1).default([1, 4]).describe('comma-separated --batch_size values'),
    threads: field.int(0).default(0).describe('onnxruntime intra-op threads (0: onnxruntime decides)'),
    providers: field
      .list(EXECUTION_PROVIDERS)
      .default(['cpu'])
      .describe('execution providers, as --execution_providers'),
  })
  .strict();

let images: number;
let bigImages: number;
let batchSizes: number[];
let threads: number;
let providers: ExecutionProviderName[];
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const round = (x: number, d = 2) => +x.toFixed(d);

/** Inference alone: `count` images through one session, `batch` at a time, same input shape. */
async function bare(file: string, batch: number, count: number) {
  const { session, provider } = await openSession(file, providers, {
    intraOpThreads: threads,
    interOpThreads: 0,
    graphOptimization: 'all',
    cpuMemArena: true,
    memPattern: true,
  });
  const dims = [batch, 3, SIZE, SIZE];
  const x = float32Tensor(new Float32Array(batch * 3 * SIZE * SIZE).fill(0.1), dims);
  await session.run({ input: x }); // warm-up
  const runs = Math.max(1, Math.round(count / batch));
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run({ input: x });
  const s = (performance.now() - t0) / 1000;
  await session.release();
  return { provider, batch, imagesPerSecond: round((runs * batch) / s) };
}

async function main(): Promise<void> {
  const MODELS = [
    { name: 'big', ngf: 64, nBlocks: 9, images: bigImages },
    { name: 'small', ngf: 8, nBlocks: 1, images },
  ];

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-translate-'));
  try {
    const modelsDir = path.join(tmp, 'models');
    for (const m of MODELS) {
      log(`building ${m.name}: resnet_${m.nBlocks}blocks ngf ${m.ngf}, random weights (export/onnxBuilder.ts)`);
      await writeTinyModel(modelsDir, {
        name: m.name,
        ngf: m.ngf,
        nBlocks: m.nBlocks,
        preferredSize: SIZE,
        directions: ['AtoB'],
      });
    }
    // One folder per model so the big model gets its own (smaller) image count.
    for (const m of MODELS) {
      const dir = path.join(tmp, `in-${m.name}`);
      await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
      for (let i = 0; i < m.images; i++)
        await fs.writeFile(path.join(dir, i % 2 ? 'sub' : '', `img${i}.png`), await noiseImage(SIZE, SIZE, 'png', i));
    }

    const results = [];
    const bareResults = [];
    for (const m of MODELS) {
      for (const batchSize of batchSizes) {
        log(`${m.name}: ${m.images} images, batch_size ${batchSize}`);
        const s = await translateTree({
          model: m.name,
          modelsDir,
          direction: 'AtoB',
          input: path.join(tmp, `in-${m.name}`),
          output: path.join(tmp, `out-${m.name}-${batchSize}`),
          size: { kind: 'native' },
          fit: 'original',
          format: 'png',
          overwrite: true,
          shard: { index: 0, count: 1 },
          engine: {
            executionProviders: providers,
            threads,
            batchSize,
            concurrency: 2 * batchSize + 2,
            maxPixels: 4096 * 4096,
          },
        });
        if (s.done !== m.images) throw new Error(`${s.failed.length} image(s) failed: ${s.failed[0]?.reason}`);
        results.push({
          model: m.name,
          batchSize,
          concurrency: 2 * batchSize + 2,
          images: s.done,
          seconds: round(s.seconds),
          imagesPerSecond: round(s.imagesPerSecond),
          meanBatchSize: round(s.meanBatchSize),
          provider: s.provider,
          msPerImage: Object.fromEntries(Object.entries(s.msPerImage).map(([k, v]) => [k, round(v, 1)])),
        });
        log(`bare onnxruntime: ${m.name}, batch ${batchSize}`);
        bareResults.push({
          model: m.name,
          ...(await bare(path.join(modelsDir, m.name, 'AtoB.onnx'), batchSize, m.images)),
        });
      }
    }

    const out = {
      input: `${images} PNG images, ${SIZE}x${SIZE} noise (big model: first ${bigImages})`,
      models: MODELS.map((m) => ({ name: m.name, netG: `resnet_${m.nBlocks}blocks`, ngf: m.ngf, weights: 'random' })),
      host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      settings: { providers, threads, format: 'png', size: 'native', fit: 'original' },
      translate: results,
      bareOnnxruntime: bareResults,
      notes: [
        'imagesPerSecond: translated images over the run time (model loading and warm-up excluded)',
        'msPerImage: summed stage time / images; stages overlap, so they add up to more than 1000/imagesPerSecond',
        'inference is the batch run time divided by its images; queue is the wait for a batch to start',
      ],
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

runCommand(
  {
    name: 'bench:translate',
    program: 'npm run bench:translate --',
    summary: 'Batch translation benchmark: translateTree and bare onnxruntime on noise PNGs; prints JSON.',
    schema: benchTranslateSchema,
    placeholders: { batch_sizes: '<list>', providers: '<list>' },
  },
  async (o) => {
    ({ images, batch_sizes: batchSizes, threads, providers } = o);
    bigImages = Math.min(images, o.big_images);
    await main();
  },
);
