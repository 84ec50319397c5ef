/**
 * Sample grids: one row per sample, columns real_A | fake_B | rec_A | real_B | fake_A | rec_B,
 * as the official visualizer shows them. Images arrive as NHWC in [-1, 1].
 */
import sharp from 'sharp';
import { writeFileAtomic } from '../../core/io/atomicWrite';

export interface GridImage {
  /** NHWC [N, H, W, C] values in [-1, 1], C = 1 or 3. */
  data: Float32Array;
  shape: [number, number, number, number];
}

/** Converts [-1,1] floats to 8-bit RGB like the official tensor2im: (x+1)/2·255, grey expanded. */
export function toRgb8(img: GridImage, sample: number): Uint8Array {
  const [, h, w, c] = img.shape;
  const out = new Uint8Array(h * w * 3);
  const base = sample * h * w * c;
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) {
      const v = img.data[base + i * c + (c === 1 ? 0 : k)];
      out[i * 3 + k] = Math.max(0, Math.min(255, Math.round(((v + 1) / 2) * 255)));
    }
  }
  return out;
}

/** Lays the columns out side by side for up to `maxRows` samples and encodes a PNG. */
export async function encodeSampleGrid(columns: GridImage[], maxRows = 4): Promise<Buffer> {
  if (columns.length === 0) throw new Error('no images for the sample grid');
  const h = Math.max(...columns.map((c) => c.shape[1]));
  const w = Math.max(...columns.map((c) => c.shape[2]));
  const rows = Math.min(maxRows, ...columns.map((c) => c.shape[0]));
  const gw = w * columns.length;
  const canvas = new Uint8Array(gw * h * rows * 3);
  for (let r = 0; r < rows; r++) {
    columns.forEach((col, ci) => {
      const [, ch, cw] = col.shape;
      const rgb = toRgb8(col, r);
      for (let y = 0; y < ch; y++) {
        const dst = ((r * h + y) * gw + ci * w) * 3;
        canvas.set(rgb.subarray(y * cw * 3, (y + 1) * cw * 3), dst);
      }
    });
  }
  return sharp(Buffer.from(canvas.buffer), { raw: { width: gw, height: h * rows, channels: 3 } })
    .png()
    .toBuffer();
}

export async function writeSampleGrid(file: string, columns: GridImage[], maxRows = 4): Promise<void> {
  await writeFileAtomic(file, await encodeSampleGrid(columns, maxRows));
}
