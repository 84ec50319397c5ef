/**
 * Encode settings for server and `npm run translate` output: bytes and encode time of sharp's
 * PNG settings (the server's PNG_COMPRESSION levels among them) and of JPEG/WebP at the default
 * quality, on the image sizes a server answers. Prints JSON and a markdown table (bench/README.md).
 *
 *   npm run bench:png -- [--reps 10] [--images a.png,b.jpg]
 *
 * Images: `emoji input 64²` (examples/twemoji/grinning-face.png) and `emoji output 64²` (what the
 * bundled twemoji2noto model answers for it, the pixels the server encodes),
 * `photo-like 512²` and `photo-like 3000×2000` (synthetic pictures: gradients, edges and mild grain,
 * what a generator's output resembles), and any --images files at their own size. Each setting is
 * timed as the server runs it (raw RGB in, encoded buffer out, one at a time on libuv's pool),
 * median of the repetitions after one warm-up; large images get fewer repetitions (at least 2).
 * Wall time and the process's CPU time are both reported: on a loaded machine the CPU time is the
 * steadier figure of the encoder's own cost.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { Rng } from '../core/rng';
import { openModel } from '../inference/openModel';
import { DEFAULT_MAX_PIXELS } from '../inference/preprocess';
import { DEFAULT_LOSSY_QUALITY, encodeImage, PNG_LEVEL_NAMES, type EncodeOptions } from '../inference/postprocess';

interface Setting {
  name: string;
  encode: (img: BenchImage) => Promise<Buffer>;
}

const png = (options: sharp.PngOptions) => (img: BenchImage) =>
  sharp(img.raw, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png(options)
    .toBuffer();
/** What the server and `npm run translate` run (inference/postprocess.ts). */
const served = (options: Pick<EncodeOptions, 'format' | 'png'>) => (img: BenchImage) =>
  encodeImage({ data: img.raw, width: img.width, height: img.height, channels: 3 }, options);

/** sharp's own default (zlib level 6, no row filters), the choices worth having, then the server's settings. */
const SETTINGS: Setting[] = [
  { name: 'png: sharp default (level 6, no filters)', encode: png({}) },
  ...[0, 1].map((level) => ({
    name: `png: level ${level}, no filters`,
    encode: png({ compressionLevel: level, adaptiveFiltering: false }),
  })),
  ...[1, 2, 3, 4, 6, 9].map((level) => ({
    name: `png: level ${level}, adaptive filtering`,
    encode: png({ compressionLevel: level, adaptiveFiltering: true }),
  })),
  ...PNG_LEVEL_NAMES.map((png) => ({
    name: `server PNG_COMPRESSION=${png}`,
    encode: served({ format: 'png', png }),
  })),
  { name: `server format=jpeg (quality ${DEFAULT_LOSSY_QUALITY})`, encode: served({ format: 'jpeg' }) },
  { name: `server format=webp (quality ${DEFAULT_LOSSY_QUALITY})`, encode: served({ format: 'webp' }) },
];

interface BenchImage {
  name: string;
  width: number;
  height: number;
  raw: Buffer;
}

function photoLike(width: number, height: number): BenchImage {
  const rng = new Rng(1);
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        const u = x / width;
        const v = y / height;
        const base = 128 + 80 * Math.sin(6 * u + 2 * c) * Math.cos(4 * v - c) + (u + v > 1 ? 30 : -30);
        raw[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + 12 * (rng.next() - 0.5))));
      }
  return { name: `photo-like ${width}x${height}`, width, height, raw };
}

async function fileImage(file: string, name = path.basename(file)): Promise<BenchImage> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { name, width: info.width, height: info.height, raw: data };
}

async function timeEncode(img: BenchImage, setting: Setting, reps: number) {
  const encode = () => setting.encode(img);
  const bytes = (await encode()).length; // warm-up
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await encode();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(2);
  return { bytes, ms: median(wall), cpuMs: median(cpu) };
}

const schema = z
  .object({
    reps: field.int(1).default(10).describe('timed encodes per setting for images up to 512² (median reported)'),
    images: z
      .preprocess((v) => (typeof v === 'string' ? v.split(',').filter((s) => s.length > 0) : v), z.array(z.string()))
      .default([])
      .describe('comma-separated extra images (encoded at their own size, alpha dropped)'),
  })
  .strict();

/** What the server encodes for the emoji: the bundled model's AtoB output, before encoding. */
async function modelOutput(file: string): Promise<BenchImage> {
  const model = await openModel(path.join(__dirname, '..', 'models', 'twemoji2noto'), {
    providers: ['cpu'],
    directions: ['AtoB'],
    maxBatch: 1,
    batchDelayMs: 0,
    maxQueue: 1,
    limits: { maxPixels: DEFAULT_MAX_PIXELS },
  });
  try {
    const { output } = await model.run(await fs.readFile(file), { direction: 'AtoB', size: { kind: 'native' } });
    const { width, height } = output;
    return { name: `emoji output ${width}x${height}`, width, height, raw: Buffer.from(output.data) };
  } finally {
    await model.close();
  }
}

async function main({ reps, images: files }: z.output<typeof schema>) {
  const emoji = path.join(__dirname, '..', 'examples', 'twemoji', 'grinning-face.png');
  const images: BenchImage[] = [
    await fileImage(emoji, 'emoji input 64x64'),
    await modelOutput(emoji),
    photoLike(512, 512),
    photoLike(3000, 2000),
  ];
  for (const file of files) images.push(await fileImage(file));
  sharp.concurrency(1); // the server encodes many responses at once; one thread each is the fair unit
  const results: Record<string, Record<string, { bytes: number; ms: number; cpuMs: number }>> = {};
  for (const s of SETTINGS) {
    results[s.name] = {};
    for (const img of images) {
      const n = Math.max(2, Math.round(reps * Math.min(1, (512 * 512) / (img.width * img.height))));
      results[s.name][img.name] = await timeEncode(img, s, n);
    }
  }
  const rawBytes = Object.fromEntries(images.map((i) => [i.name, i.raw.length]));
  console.log(JSON.stringify({ reps, sharp: sharp.versions, rawBytes, results }, null, 2));
  const header = images.map((i) => `${i.name} (raw ${i.raw.length} B)`);
  console.log(`\n| setting | ${header.join(' | ')} |\n| --- |${' --- |'.repeat(images.length)}`);
  const cell = (r: { bytes: number; ms: number; cpuMs: number }) => `${r.bytes} B, ${r.cpuMs} ms CPU (${r.ms} ms wall)`;
  for (const s of SETTINGS)
    console.log(`| ${s.name} | ${images.map((i) => cell(results[s.name][i.name])).join(' | ')} |`);
}

runCommand(
  {
    name: 'bench/png',
    program: 'npm run bench:png --',
    summary:
      "Bytes and encode time of sharp's PNG settings and of JPEG/WebP, on a 64² emoji and 512² and 3000×2000 " +
      'photo-like images (the server and translate outputs); prints JSON and a markdown table.',
    schema,
    placeholders: { images: '<files>' },
  },
  main,
);
