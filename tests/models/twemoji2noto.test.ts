/**
 * The model the repository ships (`npm start` serves it out of the box): its folder is valid, its
 * files match their recorded sha256, it carries its evaluation metrics and attribution, and the
 * server's pipeline translates an image with it in both directions.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { readManifest } from '../../core/modelManifest';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { preprocessImage, parseSizeMode } from '../../inference/preprocess';
import { noiseImage } from '../helpers/tinyModel';

const MODELS = path.join(__dirname, '..', '..', 'models');
const NAME = 'twemoji2noto';

test('the bundled model folder is complete and documented', async () => {
  const m = await readManifest(path.join(MODELS, NAME));
  expect(Object.keys(m.directions).sort()).toEqual(['AtoB', 'BtoA']);
  expect(m.preferredSize).toBe(64);
  const metrics = m.metrics as {
    twemoji2noto: { directions: Record<string, { psnr: number; identity: { psnr: number } }> };
  };
  for (const d of ['AtoB', 'BtoA']) {
    expect(Number.isFinite(metrics.twemoji2noto.directions[d].psnr)).toBe(true);
    expect(Number.isFinite(metrics.twemoji2noto.directions[d].identity.psnr)).toBe(true);
  }
  expect(existsSync(path.join(MODELS, NAME, 'ATTRIBUTION.md'))).toBe(true);
});

test('the server loads the bundled models and translates with them', async () => {
  const config = loadConfig({}, { MODELS_DIR: MODELS, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
  const repo = new ModelRepository(config, pino({ level: 'silent' }));
  try {
    await repo.load(); // verifies each file's sha256 against model.json
    expect(repo.state).toBe('loaded');
    expect(repo.failures).toEqual([]);
    const model = repo.models.get(NAME)!;
    expect(model).toBeDefined();
    const image = await noiseImage(80, 60, 'png', 3);
    for (const dir of ['AtoB', 'BtoA'] as const) {
      const pre = await preprocessImage(image, {
        channels: 3,
        size: parseSizeMode('native'),
        maxPixels: 1e6,
        preferredSize: 64,
        sizeMultiple: 4,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      });
      const out = await model.batcher.submit(dir, pre.input.data, pre.input.dims);
      expect(out.dims).toEqual([1, 3, 64, 64]);
      const values = Array.from(out.data);
      // Tanh range; onnxruntime's vectorised tanh may overshoot by one float32 ulp.
      expect(Math.min(...values)).toBeGreaterThanOrEqual(-1 - 1e-6);
      expect(Math.max(...values)).toBeLessThanOrEqual(1 + 1e-6);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      expect(Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length)).toBeGreaterThan(0.01);
    }
  } finally {
    await repo.close();
  }
});
