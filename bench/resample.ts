/**
 * The PIL-exact bicubic resampler (core/image/resample.ts) beside sharp's `cubic` resize, both
 * from raw RGB in memory to 256×256 (median of `reps` runs after a warm-up; single image at a
 * time; sharp uses its default libvips thread pool). sharp is the speed reference, not the
 * accuracy one: for large reductions libvips box-shrinks first, which PIL does not.
 *
 *   node --import tsx bench/resample.ts [--reps 7]      (also part of `npm run bench`)
 */
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import type { RawImage } from '../core/image/rawImage';
import { resizeBicubic } from '../core/image/resample';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function photoLike(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  let seed = 12345;
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++, i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) | 0;
        data[i] = (((x * (c + 1)) >> 4) + ((y * (3 - c)) >> 5) + ((seed >>> 16) & 31)) & 255;
      }
  return { data, width, height, channels: 3 };
}

export async function benchResample(reps = 7) {
  const rows = [];
  for (const [w, h] of [
    [1000, 700],
    [4000, 3000],
  ]) {
    const img = photoLike(w, h);
    const viaSharp = () =>
      sharp(img.data, { raw: { width: w, height: h, channels: 3 } })
        .resize(256, 256, { fit: 'fill', kernel: 'cubic' })
        .raw()
        .toBuffer();
    resizeBicubic(img, 256, 256);
    await viaSharp();
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < reps; i++) {
      let t = performance.now();
      resizeBicubic(img, 256, 256);
      ours.push(performance.now() - t);
      t = performance.now();
      await viaSharp();
      theirs.push(performance.now() - t);
    }
    const row = {
      input: `${w}x${h} RGB`,
      output: '256x256',
      pilExactMs: +median(ours).toFixed(1),
      sharpCubicMs: +median(theirs).toFixed(1),
      ratio: +(median(ours) / median(theirs)).toFixed(2),
    };
    process.stderr.write(`${JSON.stringify(row)}\n`);
    rows.push(row);
  }
  return rows;
}

if (require.main === module)
  runCommand(
    {
      name: 'bench:resample',
      program: 'node --import tsx bench/resample.ts',
      summary: "The PIL-exact resampler beside sharp's cubic; prints JSON.",
      schema: z.object({ reps: field.int(1).default(7).describe('timed runs per figure (median)') }).strict(),
    },
    async (o) => {
      console.log(JSON.stringify(await benchResample(o.reps), null, 2));
    },
  );
