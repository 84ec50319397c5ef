import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseTrainOptions } from '../../../train/trainOptions';
import { openTrainData } from '../../../train/data/trainDataset';
import { enlargement, enlargementWarning } from '../../../train/data/loadSizeCheck';
import { makeShapesDataset } from '../../../tools/make_shapes_dataset';

const root = mkdtempSync(path.join(tmpdir(), 'load-size-'));
const dataroot = path.join(root, 'data');

beforeAll(async () => {
  await makeShapesDataset({ out: dataroot, size: 36, n: 2, n_test: 1, seed: 3, force: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('--load_size enlargement warning', () => {
  test('factor by preprocess mode; none without a resize', () => {
    const img = { width: 64, height: 48 };
    expect(enlargement({ load_size: 286, preprocess: 'resize_and_crop' }, img)).toBeCloseTo(286 / 64);
    expect(enlargement({ load_size: 256, preprocess: 'scale_width' }, img)).toBe(4);
    expect(enlargement({ load_size: 286, preprocess: 'crop' }, img)).toBeNull();
    expect(enlargementWarning({ load_size: 72, crop_size: 64, preprocess: 'resize_and_crop' }, img, 'trainA')).toBe(
      null,
    );
    expect(enlargementWarning({ load_size: 286, crop_size: 256, preprocess: 'resize_and_crop' }, img, 'trainA')).toBe(
      '--load_size 286 enlarges the 64x48 images of trainA 4.5 times (each iteration then computes 256 px crops of ' +
        'upscaled pixels); to train at their own size pass --load_size 64 --crop_size 64',
    );
  });

  test('opening the training data logs it for the default --load_size on small images, and not at their size', async () => {
    const lines = (extra: Record<string, unknown>) => {
      const out: string[] = [];
      return openTrainData(parseTrainOptions({ dataroot, ...extra }), (m) => out.push(m)).then(() => out);
    };
    const warned = (await lines({})).filter((l) => l.startsWith('warning: --load_size 286'));
    expect(warned).toHaveLength(2);
    expect(warned[0]).toContain('36x36 images of trainA 7.9 times');
    expect((await lines({ load_size: 36, crop_size: 32 })).filter((l) => l.startsWith('warning'))).toEqual([]);
  });
});
