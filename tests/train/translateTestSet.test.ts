/** `npm run test-translate`: a checkpoint's translations of testA/testB laid out like the official test.py. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { parseTestOptions, parseTrainOptions } from '../../train/trainOptions';
import { initBackend } from '../../core/tf/backend';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { translateTestSet } from '../../train/translateTestSet';
import { TINY_NETWORKS, trainQuietly } from '../helpers/tinyTraining';

const root = mkdtempSync(path.join(tmpdir(), 'testtr-'));
const dataroot = path.join(root, 'data');

test('writes the six visuals per test image and an index.html', async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 36, n: 2, n_test: 3, seed: 4, force: false });
  const common = { dataroot, name: 'tt', checkpoints_dir: path.join(root, 'ck') };
  const o = parseTrainOptions({
    ...common,
    ...TINY_NETWORKS,
    max_iters: 1,
    seed: 1,
  });
  await trainQuietly(o);
  const r = await translateTestSet(
    parseTestOptions({ ...common, results_dir: path.join(root, 'results'), num_test: 2, load_size: 32, crop_size: 32 }),
    () => undefined,
  );
  expect(r.translated).toBe(2);
  expect(r.dir).toBe(path.join(root, 'results', 'tt', 'test_latest'));
  const images = readdirSync(path.join(r.dir, 'images')).sort();
  expect(images).toHaveLength(12);
  const stem = images[0].replace(/_(real|fake|rec)_[AB]\.png$/, '');
  for (const v of ['real_A', 'fake_B', 'rec_A', 'real_B', 'fake_A', 'rec_B'])
    expect(images).toContain(`${stem}_${v}.png`);
  const meta = await sharp(path.join(r.dir, 'images', `${stem}_fake_B.png`)).metadata();
  expect([meta.width, meta.height]).toEqual([32, 32]);
  const html = readFileSync(path.join(r.dir, 'index.html'), 'utf8');
  expect(html).toContain(`images/${stem}_fake_B.png`);
});
