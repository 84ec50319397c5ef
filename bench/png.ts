/**
 * PNG encode settings for server responses: time and size of sharp's png() per setting, on 256×256
 * RGB images (the serving size). Prints JSON.
 *
 *   npx tsx bench/png.ts [--reps 30] [--size 256] [--images a.png,b.png]
 *
 * Images: `smooth` (a photo-like synthetic picture: gradients, edges and mild grain, what a
 * generator's output resembles), `noise` (uniform noise: the worst case for deflate), and any
 * --images files (resized to size×size). Each setting is timed as the server runs it (raw RGB in,
 * PNG buffer out, one at a time on libuv's pool), median of --reps after one warm-up.
 */
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { Rng } from '../core/rng';
import { PNG_LEVELS, type PngLevel } from '../inference/postprocess';

interface Setting {
  name: string;
  options: sharp.PngOptions;
}

/** sharp's own default (zlib level 6, no adaptive filtering), then the choices worth having. */
const SETTINGS: Setting[] = [
  { name: 'sharp default (compressionLevel 6)', options: {} },
  ...[0, 1, 2, 3, 4, 6, 9].map((level) => ({
    name: `compressionLevel ${level}`,
    options: { compressionLevel: level },
  })),
  { name: 'compressionLevel 1, adaptiveFiltering', options: { compressionLevel: 1, adaptiveFiltering: true } },
  { name: 'compressionLevel 6, adaptiveFiltering', options: { compressionLevel: 6, adaptiveFiltering: true } },
  { name: 'compressionLevel 9, adaptiveFiltering', options: { compressionLevel: 9, adaptiveFiltering: true } },
  ...(Object.keys(PNG_LEVELS) as PngLevel[]).map((level) => ({
    name: `server PNG_COMPRESSION=${level}`,
    options: PNG_LEVELS[level],
  })),
];

function syntheticImage(kind: 'smooth' | 'noise', size: number): Buffer {
  const rng = new Rng(kind === 'smooth' ? 1 : 2);
  const out = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) {
        const i = (y * size + x) * 3 + c;
        if (kind === 'noise') {
          out[i] = Math.floor(rng.next() * 256);
          continue;
        }
        const u = x / size;
        const v = y / size;
        const base = 128 + 80 * Math.sin(6 * u + 2 * c) * Math.cos(4 * v - c) + (u + v > 1 ? 30 : -30);
        out[i] = Math.max(0, Math.min(255, Math.round(base + 12 * (rng.next() - 0.5))));
      }
  return out;
}

async function timeEncode(raw: Buffer, size: number, options: sharp.PngOptions, reps: number) {
  const encode = () =>
    sharp(raw, { raw: { width: size, height: size, channels: 3 } })
      .png(options)
      .toBuffer();
  const bytes = (await encode()).length; // warm-up
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await encode();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { ms: +ms[Math.floor(ms.length / 2)].toFixed(2), bytes };
}

const schema = z
  .object({
    reps: field.int(1).default(30).describe('timed encodes per setting and image (median reported)'),
    size: field.intRange(8, 16384).default(256).describe('image side'),
    images: z
      .preprocess((v) => (typeof v === 'string' ? v.split(',').filter((s) => s.length > 0) : v), z.array(z.string()))
      .default([])
      .describe('comma-separated extra images (resized to size×size)'),
  })
  .strict();

async function main({ reps, size, images: files }: z.output<typeof schema>) {
  const images: [string, Buffer][] = [
    ['smooth', syntheticImage('smooth', size)],
    ['noise', syntheticImage('noise', size)],
  ];
  for (const file of files) {
    const raw = await sharp(file).removeAlpha().resize(size, size, { fit: 'cover' }).raw().toBuffer();
    images.push([file.split('/').pop()!, raw]);
  }
  sharp.concurrency(1); // the server encodes many responses at once; one thread each is the fair unit
  const results: Record<string, Record<string, { ms: number; bytes: number }>> = {};
  for (const s of SETTINGS) {
    results[s.name] = {};
    for (const [name, raw] of images) results[s.name][name] = await timeEncode(raw, size, s.options, reps);
  }
  console.log(JSON.stringify({ size, reps, sharp: sharp.versions, results }, null, 2));
}

runCommand(
  {
    name: 'bench/png',
    program: 'npx tsx bench/png.ts',
    summary: "Time and size of sharp's PNG settings on 256² RGB images (the server's responses); prints JSON.",
    schema,
    placeholders: { images: '<files>' },
  },
  main,
);
