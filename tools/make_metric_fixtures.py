#!/usr/bin/env python3
"""Reference PSNR/SSIM values from scikit-image for tests/core/metrics/metrics.test.ts.

    /usr/bin/python3 tools/make_metric_fixtures.py   (Debian: python3-skimage; not run by CI)

Writes tests/fixtures/metrics.json: two deterministic 8-bit 24×20 RGB images (flattened HWC) and
skimage's peak_signal_noise_ratio and structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1), plus a grey pair.
"""
import json
import os

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

rng = np.random.default_rng(5)
h, w = 24, 20
yy, xx = np.mgrid[0:h, 0:w]
base = np.stack([xx * 10, yy * 8, (xx + yy) * 5], -1) % 256
a = base.astype(np.uint8)
b = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
ga, gb = a[..., 0], b[..., 1]


def ssim(x, y, channel_axis):
    return float(structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=255, channel_axis=channel_axis))


out = {
    'width': w, 'height': h,
    'a': a.flatten().tolist(), 'b': b.flatten().tolist(),
    'psnr': float(peak_signal_noise_ratio(a, b, data_range=255)),
    'ssim': ssim(a, b, -1),
    'gray_a': ga.flatten().tolist(), 'gray_b': gb.flatten().tolist(),
    'gray_ssim': ssim(ga, gb, None),
}
path = os.path.join(os.path.dirname(__file__), '..', 'tests', 'fixtures', 'metrics.json')
with open(path, 'w') as f:
    json.dump(out, f)
print(out['psnr'], out['ssim'], out['gray_ssim'])
