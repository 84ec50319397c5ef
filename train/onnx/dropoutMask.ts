/**
 * Dropout multipliers for the onnxruntime engine's step graphs: the very numbers the tfjs engine's
 * `tf.dropout(x, rate, undefined, seed)` draws (tfjs' randomUniform: seedrandom's alea seeded with
 * the seed's decimal string, one draw per element in NHWC order, in float32), laid out NCHW. So
 * both engines drop the same units and a run moves between them.
 */
import seedrandom from 'seedrandom';

/** 0 or 1/(1 − rate) per element of an NCHW tensor of `shape`, for dropout seed `seed`. */
export function dropoutMultiplier(shape: readonly number[], rate: number, seed: number): Float32Array {
  const [n, c, h, w] = shape;
  const random = seedrandom.alea(String(seed));
  // tfjs: floor(u + keep) / keep, every operand float32.
  const keep = Math.fround(1 - rate);
  const kept = Math.fround(1 / keep);
  const out = new Float32Array(n * c * h * w);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++)
          out[((i * c + ch) * h + y) * w + x] = Math.fround(Math.fround(random()) + keep) >= 1 ? kept : 0;
  return out;
}
