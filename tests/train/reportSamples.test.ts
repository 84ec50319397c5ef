import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseTrainOptions } from '../../train/trainOptions';
import { initBackend } from '../../core/tf/backend';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { TINY_NETWORKS, trainQuietly } from '../helpers/tinyTraining';

const root = mkdtempSync(path.join(tmpdir(), 'report-samples-'));
const dataroot = path.join(root, 'data');

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 36, n: 4, n_test: 1, seed: 3, force: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('report.html shows each sample grid once when the run ends on a display_freq iteration', async () => {
  const o = parseTrainOptions({
    dataroot,
    name: 'r',
    checkpoints_dir: path.join(root, 'ck'),
    ...TINY_NETWORKS,
    pool_size: 2,
    print_freq: 2,
    display_freq: 2,
    max_iters: 4,
    seed: 1,
    backend: 'wasm',
    engine: 'tfjs',
  });
  await trainQuietly(o);
  const html = readFileSync(path.join(root, 'ck', 'r', 'report.html'), 'utf8');
  const images = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]);
  expect(images).toEqual(['web/images/epoch001_iter0000004.png', 'web/images/epoch001_iter0000002.png']);
});
