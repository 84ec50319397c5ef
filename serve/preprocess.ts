/**
 * Image → model input, as the official CycleGAN test pipeline does it (PIL `open().convert('RGB')`,
 * optional `Grayscale(1)`, bicubic `Resize`, `ToTensor`, `Normalize(mean, std)`), with sharp.
 * Independent of Express so the batch CLI and the correctness tests can call the same code.
 *
 * Differences from PIL worth knowing: EXIF orientation is applied (PIL ignores it), alpha is
 * composited onto white (PIL drops it), and libvips' bicubic (Catmull-Rom, antialiased when
 * shrinking) matches PIL's BICUBIC closely but not bit for bit.
 */
import sharp from 'sharp';
import { firstLine } from '../core/errorText';

/** Container formats accepted as input (sharp's names). */
export const INPUT_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

export type ImageErrorReason = 'unsupported-image' | 'too-many-pixels';

/** A client-side problem with the image itself (maps to 415 / 422). */
export class ImageError extends Error {
  constructor(
    readonly reason: ImageErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export interface ImageSize {
  width: number;
  height: number;
}

export interface ProbedImage extends ImageSize {
  /** sharp's container name, e.g. `jpeg`. */
  format: string;
}

/** Interleaved 8-bit pixels (HWC). */
export interface RawImage extends ImageSize {
  data: Buffer;
  channels: 1 | 3;
}

export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

export type SizeMode = { kind: 'native' } | { kind: 'long-side'; side: number } | { kind: 'original' };

/** `size` as the API and the batch CLI spell it: `native`, `original`, or the long side in pixels. */
export const SIZE_PATTERN = /^(native|original|[1-9][0-9]{0,4})$/;

export function parseSizeMode(s: string): SizeMode {
  if (!SIZE_PATTERN.test(s))
    throw new Error(`size must be native, original or a long side of 1-99999 pixels, got '${s}'`);
  if (s === 'native') return { kind: 'native' };
  if (s === 'original') return { kind: 'original' };
  return { kind: 'long-side', side: Number(s) };
}

export interface ModelGeometry {
  preferredSize: number;
  sizeMultiple: number;
}

/** What a model input is: NCHW float32 with N = 1. */
export interface ModelInput {
  data: Float32Array;
  dims: [1, number, number, number];
}

/**
 * Reads only the header: format and (EXIF-oriented) dimensions. Rejects non-images and images
 * over `maxPixels` before any pixel is decoded, so decompression bombs cost nothing.
 */
export async function probeImage(buf: Buffer, maxPixels: number): Promise<ProbedImage> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ImageError('unsupported-image', `not a decodable image (${firstLine(e)})`);
  }
  const format = meta.format;
  if (!format || !INPUT_FORMATS.has(format))
    throw new ImageError(
      'unsupported-image',
      `unsupported image format '${format ?? 'unknown'}' (expected ${[...INPUT_FORMATS].join(', ')})`,
    );
  const { width, height } = meta;
  if (!width || !height) throw new ImageError('unsupported-image', `${format} image without dimensions`);
  if (width * height > maxPixels)
    throw new ImageError(
      'too-many-pixels',
      `image is ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`,
    );
  // EXIF orientations 5–8 rotate by 90°, so width and height swap once applied.
  const swap = (meta.orientation ?? 1) >= 5;
  return { format, width: swap ? height : width, height: swap ? width : height };
}

/** PIL's `convert('L')`: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
export function rgbToLuma(rgb: Buffer, pixels: number): Buffer {
  const out = Buffer.allocUnsafe(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += 3)
    out[i] = (rgb[j] * 19595 + rgb[j + 1] * 38470 + rgb[j + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/**
 * Decodes to 8-bit RGB (or luma for `channels` 1): orientation applied, alpha flattened onto white,
 * CMYK/16-bit/palette converted to sRGB. Truncated or corrupt data is an ImageError.
 */
export async function decodeImage(buf: Buffer, channels: 1 | 3, maxPixels: number): Promise<RawImage> {
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    decoded = await sharp(buf, { limitInputPixels: maxPixels, failOn: 'truncated' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = firstLine(e);
    if (/pixel limit/i.test(msg))
      throw new ImageError('too-many-pixels', `image exceeds the limit of ${maxPixels} pixels`);
    throw new ImageError('unsupported-image', `image data could not be decoded (${msg})`);
  }
  const { width, height } = decoded.info;
  if (decoded.info.channels !== 3) throw new Error(`decoder returned ${decoded.info.channels} channels, expected 3`);
  if (channels === 1) return { data: rgbToLuma(decoded.data, width * height), width, height, channels: 1 };
  return { data: decoded.data, width, height, channels: 3 };
}

function roundToMultiple(x: number, m: number): number {
  return Math.max(m, Math.round(x / m) * m);
}

/**
 * The size the generator runs at. `native`: the preferred square (the official test.py resizes
 * to a square, ignoring aspect ratio). `long-side`: aspect kept, long side N. `original`: the
 * input's size. Sides are rounded to the nearest multiple the network needs.
 */
export function processingSize(mode: SizeMode, input: ImageSize, model: ModelGeometry): ImageSize {
  const m = model.sizeMultiple;
  if (mode.kind === 'native') {
    const s = roundToMultiple(model.preferredSize, m);
    return { width: s, height: s };
  }
  if (mode.kind === 'original')
    return { width: roundToMultiple(input.width, m), height: roundToMultiple(input.height, m) };
  const scale = mode.side / Math.max(input.width, input.height);
  return { width: roundToMultiple(input.width * scale, m), height: roundToMultiple(input.height * scale, m) };
}

/** Bicubic resize of interleaved 8-bit pixels; returns the input itself when the size matches. */
export async function resizeRaw(img: RawImage, size: ImageSize): Promise<RawImage> {
  if (img.width === size.width && img.height === size.height) return img;
  const { data, info } = await sharp(img.data, {
    raw: { width: img.width, height: img.height, channels: img.channels },
  })
    .resize(size.width, size.height, { fit: 'fill', kernel: 'cubic' })
    // Without this sharp turns a one-band image into sRGB on output.
    .toColourspace(img.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels) throw new Error(`resize changed channels ${img.channels} → ${info.channels}`);
  return { data, width: info.width, height: info.height, channels: img.channels };
}

/** HWC uint8 → NCHW float32, `(x/255 - mean[c]) / std[c]` (ToTensor + Normalize). */
export function toNchw(img: RawImage, norm: Normalization): ModelInput {
  const { width, height, channels } = img;
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const mean = norm.mean[c % norm.mean.length];
    const std = norm.std[c % norm.std.length];
    const base = c * plane;
    for (let i = 0, j = c; i < plane; i++, j += channels) out[base + i] = (img.data[j] / 255 - mean) / std;
  }
  return { data: out, dims: [1, channels, height, width] };
}

export type PreprocessStage = 'decode' | 'preprocess';

export interface PreprocessOptions extends ModelGeometry, Normalization {
  channels: 1 | 3;
  size: SizeMode;
  maxPixels: number;
  /** Called with each stage's duration in milliseconds (header probe + decode, then resize + tensor). */
  onStage?: (stage: PreprocessStage, ms: number) => void;
}

export interface Preprocessed {
  input: ModelInput;
  /** The decoded image's (oriented) size, which `fit=original` restores. */
  original: ImageSize;
  processing: ImageSize;
}

/**
 * The whole pipeline in one call: the exact NCHW tensor the server feeds to onnxruntime for
 * these bytes and options (for comparisons against other implementations).
 */
export async function preprocessImage(buf: Buffer, o: PreprocessOptions): Promise<Preprocessed> {
  let t = performance.now();
  const lap = (stage: PreprocessStage) => {
    const now = performance.now();
    o.onStage?.(stage, now - t);
    t = now;
  };
  const probed = await probeImage(buf, o.maxPixels);
  const size = processingSize(o.size, probed, o);
  if (size.width * size.height > o.maxPixels)
    throw new ImageError(
      'too-many-pixels',
      `processing size ${size.width}x${size.height} exceeds the limit of ${o.maxPixels} pixels`,
    );
  const decoded = await decodeImage(buf, o.channels, o.maxPixels);
  lap('decode');
  const input = toNchw(await resizeRaw(decoded, size), o);
  lap('preprocess');
  return {
    input,
    original: { width: decoded.width, height: decoded.height },
    processing: size,
  };
}
