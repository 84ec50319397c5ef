/**
 * Seam score of an image along given tile borders: the mean absolute difference between the two
 * pixels that straddle a border (horizontal neighbours across vertical borders, vertical ones across
 * horizontal borders) divided by the same mean over every other neighbour pair. About 1 for an
 * image without seams; compare against the untiled output's score on the same lines.
 */
export interface SeamImage {
  data: ArrayLike<number>;
  /** Planar [C, H, W]. */
  channels: number;
  width: number;
  height: number;
}

/** `xs`/`ys`: inner border coordinates (a border at b lies between pixels b − 1 and b). */
export function seamScore(img: SeamImage, xs: readonly number[], ys: readonly number[]): number {
  const { data, channels, width: W, height: H } = img;
  const onX = new Uint8Array(W + 1);
  const onY = new Uint8Array(H + 1);
  for (const b of xs) if (b > 0 && b < W) onX[b] = 1;
  for (const b of ys) if (b > 0 && b < H) onY[b] = 1;
  // [sum, count] on border lines and elsewhere.
  const border = [0, 0];
  const other = [0, 0];
  const add = (acc: number[], d: number): void => {
    acc[0] += d;
    acc[1]++;
  };
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < H; y++) {
      const row = (c * H + y) * W;
      for (let x = 0; x < W; x++) {
        const v = data[row + x];
        if (x > 0) {
          add(onX[x] ? border : other, Math.abs(v - data[row + x - 1]));
        }
        if (y > 0) {
          add(onY[y] ? border : other, Math.abs(v - data[row - W + x]));
        }
      }
    }
  if (border[1] === 0) throw new Error('seamScore: no borders inside the image');
  return border[0] / border[1] / (other[0] / other[1]);
}
