/** The one decoded-image type: 8-bit pixels, channels interleaved (HWC), row-major, top row first. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface ImageSize {
  width: number;
  height: number;
}

/** PIL's `convert('L')`: ITU-R 601-2 luma in 16-bit fixed point, rounded (torchvision's Grayscale(1)). */
export function toGrayscale(img: RawImage): RawImage {
  if (img.channels === 1) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, p = 0; i < n; i++, p += 3)
    out[i] = (d[p] * 19595 + d[p + 1] * 38470 + d[p + 2] * 7471 + 0x8000) >>> 16;
  return { data: out, width: img.width, height: img.height, channels: 1 };
}
