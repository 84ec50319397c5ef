/**
 * A small unpaired task whose generator must respond to sensor noise: trainA holds smooth colour
 * gradients with Gaussian noise (σ 6 grey levels), trainB clean gradients in a warmer tint. A
 * generator trained on it is the hard case for tiled statistics (issue #25; bench/tiling.ts
 * --textured_models, figures in README.md). Same images for the same seed.
 *
 *   npx tsx tools/make_noisy_gradients_dataset.ts --out datasets/noisy2smooth
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { optionField } from '../core/config/options';
import { Rng } from '../core/rng';
import { noisyGradientImage } from '../export/verify';

const noisySchema = z
  .object({
    out: optionField.text().describe('output folder (must not exist)'),
    size: optionField.int(1).default(72).describe('image side in pixels'),
    n: optionField.int(1).default(300).describe('training images per domain'),
    seed: optionField.int(0).default(77).describe('random seed'),
  })
  .strict();

async function makeNoisyGradients(o: z.output<typeof noisySchema>): Promise<void> {
  if (await fs.stat(o.out).catch(() => null)) throw new Error(`${o.out} exists; choose another --out or remove it`);
  const staging = `${o.out}.partial`;
  await fs.rm(staging, { recursive: true, force: true });
  const rng = new Rng(o.seed);
  const domains = [
    { dir: 'trainA', sigma: 6, tint: [1, 1, 1] },
    { dir: 'trainB', sigma: 0, tint: [1.1, 0.95, 0.8] },
  ];
  for (const d of domains) {
    await fs.mkdir(path.join(staging, d.dir), { recursive: true });
    for (let k = 0; k < o.n; k++) {
      const img = noisyGradientImage(o.size, o.size, rng, d.sigma, d.tint);
      await sharp(img.data, { raw: { width: o.size, height: o.size, channels: 3 } })
        .png()
        .toFile(path.join(staging, d.dir, `${k}.png`));
    }
  }
  // Renamed into place at the end: an interrupted run leaves no half-written dataset.
  await fs.rename(staging, o.out);
  console.log(`wrote ${o.out}: ${o.n} images in trainA and in trainB`);
}

runCommand(
  {
    name: 'make_noisy_gradients_dataset',
    program: 'npx tsx tools/make_noisy_gradients_dataset.ts',
    summary: 'Write the noisy-gradients → clean-gradients dataset (the hard case for tiled statistics).',
    schema: noisySchema,
    placeholders: { out: '<dir>', size: '<px>', n: '<count>', seed: '<n>' },
  },
  makeNoisyGradients,
);
