/** Peak signal-to-noise ratio between two 8-bit images of equal size (any channel count). */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak = 255): number {
  if (a.length !== b.length || a.length === 0) throw new Error(`psnr: sizes differ (${a.length} vs ${b.length})`);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse);
}
