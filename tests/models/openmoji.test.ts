/**
 * The default model (`npm start` serves it out of the box): its folder is valid and documented, its
 * graphs share one weights file per direction, it is the server's default, and it does what its
 * card says on held-out examples — AtoB puts colour into line art, BtoA takes it out.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { readManifest } from '../../core/modelManifest';
import { DEFAULT_MAX_PIXELS } from '../../inference/preprocess';
import { openModel } from '../../inference/openModel';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';

const ROOT = path.join(__dirname, '..', '..');
const MODELS = path.join(ROOT, 'models');
const DIR = path.join(MODELS, 'openmoji');

/** Mean HSV saturation of an RGB image, in [0, 1]: 0 for black line art on white. */
function meanSaturation(rgb: Uint8Array | Float32Array, scale = 1): number {
  let sum = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    const [r, g, b] = [rgb[i] * scale, rgb[i + 1] * scale, rgb[i + 2] * scale];
    const max = Math.max(r, g, b);
    sum += max === 0 ? 0 : (max - Math.min(r, g, b)) / max;
  }
  return sum / (rgb.length / 3);
}

test('the folder is complete, documented and evaluated, with one weights file per direction', async () => {
  const m = await readManifest(DIR);
  expect(m.name).toBe('openmoji');
  expect(Object.keys(m.directions).sort()).toEqual(['AtoB', 'BtoA']);
  expect(m.preferredSize).toBe(64);
  for (const d of ['AtoB', 'BtoA'] as const) {
    const direction = m.directions[d]!;
    const weights = direction.weights!.file;
    expect(weights).toBe(`${d}.weights`);
    expect(existsSync(path.join(DIR, weights))).toBe(true);
    // The graphs hold no weights of their own: they are a small fraction of the shared file.
    const graph = readFileSync(path.join(DIR, direction.file)).length;
    expect(graph * 20).toBeLessThan(readFileSync(path.join(DIR, weights)).length);
  }
  const metrics = (m.metrics as Record<string, { directions: Record<string, { psnr: number; ssim: number }> }>)
    .openmoji;
  for (const d of ['AtoB', 'BtoA']) expect(Number.isFinite(metrics.directions[d].psnr)).toBe(true);
  for (const f of ['README.md', 'ATTRIBUTION.md']) expect(existsSync(path.join(DIR, f))).toBe(true);
  expect(readFileSync(path.join(DIR, 'ATTRIBUTION.md'), 'utf8')).toMatch(/OpenMoji.*CC BY-SA 4\.0/s);
});

test('the server loads it as its default model', async () => {
  const config = loadConfig({}, { MODELS_DIR: MODELS, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
  const repo = new ModelRepository(config, pino({ level: 'silent' }));
  try {
    await repo.load(); // verifies each file's sha256 against model.json
    expect(repo.failures).toEqual([]);
    expect(repo.defaultModel()?.name).toBe('openmoji');
  } finally {
    await repo.close();
  }
});

test('AtoB colours held-out line art, BtoA takes the colour out of a held-out drawing', async () => {
  const model = await openModel(DIR, {
    providers: ['cpu'],
    directions: ['AtoB', 'BtoA'],
    maxBatch: 1,
    batchDelayMs: 0,
    maxQueue: 4,
    limits: { maxPixels: DEFAULT_MAX_PIXELS },
  });
  try {
    const cases = [
      ['AtoB', 'black/smiling-face-with-sunglasses.png'],
      ['AtoB', 'black/deer.png'],
      ['BtoA', 'color/fire.png'],
      ['BtoA', 'color/deciduous-tree.png'],
    ] as const;
    for (const [direction, file] of cases) {
      const bytes = readFileSync(path.join(ROOT, 'examples', file));
      const input = await sharp(bytes).removeAlpha().raw().toBuffer();
      const { output } = await model.run(bytes, { direction, size: { kind: 'native' } });
      const [before, after] = [meanSaturation(input, 1 / 255), meanSaturation(output.data, 1 / 255)];
      // Line art has almost no colour and the model adds plenty; a colour drawing loses most of its.
      if (direction === 'AtoB') expect([file, before < 0.02, after > before + 0.1]).toEqual([file, true, true]);
      else expect([file, after < before / 3]).toEqual([file, true]);
    }
  } finally {
    await model.close();
  }
});
