/** Numeric comparison for golden tests: max |a − b| relative to the reference's scale. */
import type { NamedTensor } from '../../core/arch/stateDict';

/** max|a−b| / max(1, max|ref|): absolute error for values of order 1, relative for large ones. */
export function scaledMaxError(actual: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (actual.length !== ref.length) throw new Error(`length ${actual.length} vs reference ${ref.length}`);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(actual[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
}

/** NCHW → NHWC for a golden tensor. */
export function nchwToNhwc(t: NamedTensor): { data: Float32Array; shape: [number, number, number, number] } {
  const [n, c, h, w] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + k] = t.data[((b * c + k) * h + y) * w + x];
  return { data: out, shape: [n, h, w, c] };
}
