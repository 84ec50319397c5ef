/**
 * Model output → image bytes: undo the normalisation (`(x+1)/2·255` for the official mean/std of
 * 0.5), round, clamp, optionally resize back to the input's size (PIL-exact bicubic, as the
 * input side), re-attach the input's alpha where the format keeps it, encode.
 */
import sharp from 'sharp';
import { OUTPUT_ROWS, type OutputFormat } from '../core/image/formats';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import type { Normalization } from './preprocess';
import { resize } from './resamplePool';

/**
 * PNG encoder settings (server setting PNG_COMPRESSION; bench/png.ts measures them, figures in
 * bench/README.md). sharp's default (deflate without PNG's row filters) is slow and finds little in
 * photos or in a generator's output. `balanced` (the default) filters and deflates: the smallest
 * file for the time at every measured size, 64² included; `fast` stores the pixels uncompressed
 * (for a GPU server whose CPU time is the bottleneck); `small` squeezes a little more for several
 * times the time. JPEG/WebP (format=, or a JPEG input) are far smaller still.
 */
export const PNG_LEVELS = {
  fast: { compressionLevel: 0, adaptiveFiltering: false },
  balanced: { compressionLevel: 6, adaptiveFiltering: true },
  small: { compressionLevel: 9, adaptiveFiltering: true },
} as const satisfies Record<string, sharp.PngOptions>;
export type PngLevel = keyof typeof PNG_LEVELS;
export const PNG_LEVEL_NAMES = Object.keys(PNG_LEVELS) as [PngLevel, ...PngLevel[]];
export const DEFAULT_PNG_LEVEL: PngLevel = 'balanced';

/** JPEG and WebP quality when a request names none (bytes per setting in bench/README.md). */
export const DEFAULT_LOSSY_QUALITY = 90;

/** NCHW float32 of one sample (N = 1 or the sample already sliced out) → HWC uint8. */
export function fromNchw(data: Float32Array, dims: readonly number[], norm: Normalization): RawImage {
  const [channels, height, width] = dims.slice(-3);
  if (channels !== 1 && channels !== 3) throw new Error(`model output has ${channels} channels, expected 1 or 3`);
  const plane = width * height;
  if (data.length !== channels * plane) throw new Error(`model output has ${data.length} values for [${dims}]`);
  // A Uint8Array, not a Buffer: the browser bundle (web/) runs this too.
  const out = new Uint8Array(data.length);
  for (let c = 0; c < channels; c++) {
    const mean = norm.mean[c % norm.mean.length];
    const std = norm.std[c % norm.std.length];
    const base = c * plane;
    for (let i = 0, j = c; i < plane; i++, j += channels) {
      const v = Math.round((data[base + i] * std + mean) * 255);
      // NaN (a broken model) becomes 0 rather than poisoning the encoder.
      out[j] = v > 255 ? 255 : v > 0 ? v : 0;
    }
  }
  return { data: out, width, height, channels };
}

export interface EncodeOptions {
  format: OutputFormat;
  /** Resize (PIL-exact bicubic) to this size first, e.g. back to the input's size. */
  size?: ImageSize;
  /** JPEG/WebP quality. */
  quality?: number;
  /** PNG size/speed trade-off (default DEFAULT_PNG_LEVEL). */
  png?: PngLevel;
  /** An alpha plane to attach (resized to the output size with the same resampler); JPEG drops it. */
  alpha?: RawImage | null;
}

/** Colour (1 or 3 channels) + alpha → interleaved GA / RGBA. */
function withAlpha(img: RawImage, alpha: RawImage): { data: Buffer; channels: 2 | 4 } {
  const c = img.channels;
  const n = img.width * img.height;
  const out = Buffer.allocUnsafe(n * (c + 1));
  for (let i = 0, s = 0, d = 0; i < n; i++) {
    for (let k = 0; k < c; k++) out[d++] = img.data[s++];
    out[d++] = alpha.data[i];
  }
  return { data: out, channels: (c + 1) as 2 | 4 };
}

export async function encodeImage(img: RawImage, o: EncodeOptions): Promise<Buffer> {
  const src = o.size ? await resize(img, o.size) : img;
  let raw: { data: Uint8Array; channels: 1 | 2 | 3 | 4 } = src;
  if (o.alpha && OUTPUT_ROWS[o.format].alpha) raw = withAlpha(src, await resize(o.alpha, src));
  const s = sharp(raw.data, { raw: { width: src.width, height: src.height, channels: raw.channels } }).toColourspace(
    src.channels === 1 ? 'b-w' : 'srgb',
  );
  const quality = o.quality ?? DEFAULT_LOSSY_QUALITY;
  switch (o.format) {
    case 'png':
      return s.png(PNG_LEVELS[o.png ?? DEFAULT_PNG_LEVEL]).toBuffer();
    case 'jpeg':
      return s.jpeg({ quality, mozjpeg: false }).toBuffer();
    case 'webp':
      return s.webp({ quality }).toBuffer();
  }
}
