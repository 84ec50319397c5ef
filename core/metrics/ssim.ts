/**
 * Structural similarity (Wang et al. 2004) with the standard 11×11 Gaussian window (σ 1.5),
 * K1 0.01, K2 0.03, L 255, valid-region mean over the map, averaged over channels — the same
 * definition as scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False)` and MATLAB's reference ssim.m.
 */
const K1 = 0.01;
const K2 = 0.03;

function gaussianWindow(size = 11, sigma = 1.5): Float64Array {
  const w = new Float64Array(size);
  const r = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) sum += w[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) w[i] /= sum;
  return w;
}

/** Separable valid-mode filtering of one channel plane. */
function filterValid(src: Float64Array, w: number, h: number, k: Float64Array): Float64Array {
  const n = k.length;
  const ow = w - n + 1;
  const oh = h - n + 1;
  const tmp = new Float64Array(ow * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += k[i] * src[y * w + x + i];
      tmp[y * ow + x] = s;
    }
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += k[i] * tmp[(y + i) * ow + x];
      out[y * ow + x] = s;
    }
  return out;
}

/** SSIM of two interleaved 8-bit images (HWC) of the same size; images under 11×11 are rejected. */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  peak = 255,
): number {
  if (a.length !== width * height * channels || b.length !== a.length) throw new Error('ssim: size mismatch');
  const k = gaussianWindow();
  if (width < k.length || height < k.length) throw new Error(`ssim: images must be at least ${k.length}×${k.length}`);
  const c1 = (K1 * peak) ** 2;
  const c2 = (K2 * peak) ** 2;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    const x = new Float64Array(width * height);
    const y = new Float64Array(width * height);
    for (let i = 0; i < width * height; i++) {
      x[i] = a[i * channels + c];
      y[i] = b[i * channels + c];
    }
    const xx = x.map((v) => v * v);
    const yy = y.map((v) => v * v);
    const xy = x.map((v, i) => v * y[i]);
    const [mx, my, sxx, syy, sxy] = [x, y, xx, yy, xy].map((p) => filterValid(p, width, height, k));
    let sum = 0;
    for (let i = 0; i < mx.length; i++) {
      const vx = sxx[i] - mx[i] * mx[i];
      const vy = syy[i] - my[i] * my[i];
      const cxy = sxy[i] - mx[i] * my[i];
      sum += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2)) / ((mx[i] ** 2 + my[i] ** 2 + c1) * (vx + vy + c2));
    }
    total += sum / mx.length;
  }
  return total / channels;
}
