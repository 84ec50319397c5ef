import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { psnr } from '../../../core/metrics/psnr';
import { ssim } from '../../../core/metrics/ssim';

// Reference values from scikit-image (tools/make_metric_fixtures.py).
const f = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'metrics.json'), 'utf8')) as {
  width: number;
  height: number;
  a: number[];
  b: number[];
  psnr: number;
  ssim: number;
  gray_a: number[];
  gray_b: number[];
  gray_ssim: number;
};

describe('image quality metrics match scikit-image', () => {
  test('PSNR', () => {
    expect(psnr(f.a, f.b)).toBeCloseTo(f.psnr, 10);
    expect(psnr(f.a, f.a)).toBe(Infinity);
  });

  test('SSIM, RGB and grey', () => {
    expect(ssim(f.a, f.b, f.width, f.height, 3)).toBeCloseTo(f.ssim, 10);
    expect(ssim(f.gray_a, f.gray_b, f.width, f.height, 1)).toBeCloseTo(f.gray_ssim, 10);
    expect(ssim(f.a, f.a, f.width, f.height, 3)).toBeCloseTo(1, 12);
  });

  test('bad sizes are rejected', () => {
    expect(() => psnr([1, 2], [1])).toThrow(/sizes differ/);
    expect(() => ssim([1, 2, 3], [1, 2, 3], 3, 1, 1)).toThrow(/at least 11×11/);
  });
});
