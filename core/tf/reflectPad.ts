/**
 * PyTorch ReflectionPad2d(p) on NHWC: mirror without repeating the edge (x[1], x[0] | x[0..W-1] | x[W-2]).
 *
 * tfjs 4.22's own MirrorPad gradient (tfjs-core gradients/MirrorPad_grad) only slices the centre of dy out,
 * dropping every border contribution, so backprop through tf.mirrorPad is wrong. Here the forward is still
 * tf.mirrorPad, with an exact custom gradient: border rows/columns of dy are folded back (mirrored) onto the
 * interior rows/columns they copied, on every backend.
 */
import * as tf from '@tensorflow/tfjs';

/** Reverses `t` along `axis` (extent `len`) by concatenating unit slices: p is small, and wasm's Reverse is slow. */
function flipSmall(t: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  const len = t.shape[axis];
  if (len === 1) return t;
  const parts: tf.Tensor4D[] = [];
  for (let i = len - 1; i >= 0; i--) {
    const begin = [0, 0, 0, 0];
    const size = [...t.shape];
    begin[axis] = i;
    size[axis] = 1;
    parts.push(tf.slice(t, begin, size));
  }
  return tf.concat(parts, axis);
}

/** Gradient of reflect padding by p along one spatial axis: g has extent len + 2p, result has extent len. */
function foldAxis(g: tf.Tensor4D, p: number, len: number, axis: 1 | 2): tf.Tensor4D {
  const at = (start: number, size: number) => {
    const begin = [0, 0, 0, 0];
    const sz = [...g.shape];
    begin[axis] = start;
    sz[axis] = size;
    return tf.slice(g, begin, sz);
  };
  const padAxis = (t: tf.Tensor4D, before: number, after: number) => {
    const pads: [number, number][] = [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ];
    pads[axis] = [before, after];
    return tf.pad(t, pads);
  };
  // Padded index j < p copies x[p - j]  → flipped, it lands on x[1..p].
  // Padded index p + len + r copies x[len - 2 - r] → flipped, it lands on x[len-1-p .. len-2].
  const head = padAxis(flipSmall(at(0, p), axis), 1, len - 1 - p);
  const tail = padAxis(flipSmall(at(p + len, p), axis), len - 1 - p, 1);
  return tf.addN([at(p, len), head, tail]);
}

export function reflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`reflectPad: input must be NHWC rank 4, got shape [${x.shape}]`);
  if (!Number.isInteger(p) || p < 0) throw new Error(`reflectPad: pad must be a non-negative integer, got ${p}`);
  const [, h, w] = x.shape;
  if (p >= h || p >= w) throw new Error(`reflectPad: pad ${p} must be smaller than the input's ${h}x${w} sides`);
  if (p === 0) return x;
  const op = tf.customGrad((xIn) => {
    const xt = xIn as tf.Tensor4D;
    return {
      value: tf.mirrorPad(
        xt,
        [
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ],
        'reflect',
      ),
      gradFunc: (dy: tf.Tensor4D) => tf.tidy(() => foldAxis(foldAxis(dy, p, h, 1), p, w, 2)),
    };
  });
  return op(x) as tf.Tensor4D;
}
