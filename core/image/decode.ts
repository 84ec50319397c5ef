/**
 * Bytes → pixels, as the official loader's `Image.open(path).convert('RGB')`: grayscale and palette
 * images are expanded to RGB, 16-bit images scaled to 8 bits, CMYK converted, and an alpha channel
 * is dropped from the colour (not composited) — callers that want it back get it as its own plane.
 * sharp (libvips) reads every format but BMP, which core/image/bmp.ts reads (the format table is
 * core/image/formats.ts).
 */
import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import { firstLine } from '../errorText';
import { bmpSize, decodeBmp, isBmp } from './bmp';
import { INPUT_FORMATS } from './formats';
import type { ImageSize, RawImage } from './rawImage';

export type ImageErrorReason = 'unsupported-image' | 'too-many-pixels';

/**
 * A problem with the image itself (the server maps it to 415 / 422). `limit` says which pixel
 * limit was passed, so each front end can name its own setting.
 */
export class ImageError extends Error {
  constructor(
    readonly reason: ImageErrorReason,
    message: string,
    readonly limit?: 'input' | 'processing',
  ) {
    super(message);
  }
}

export interface ProbedImage extends ImageSize {
  /** The format table's name, e.g. `jpeg`, `bmp`. */
  format: string;
}

/**
 * Reads only the header: format and dimensions (EXIF-oriented when `autoOrient`). Rejects
 * non-images and images over `maxPixels` before any pixel is decoded, so decompression bombs
 * cost nothing.
 */
export async function probeImage(buf: Uint8Array, maxPixels: number, autoOrient = true): Promise<ProbedImage> {
  let format: string | undefined;
  let width: number | undefined;
  let height: number | undefined;
  if (isBmp(buf)) {
    format = 'bmp';
    try {
      ({ width, height } = bmpSize(buf));
    } catch (e) {
      throw new ImageError('unsupported-image', `not a decodable image (${firstLine(e)})`);
    }
  } else {
    let meta: sharp.Metadata;
    try {
      meta = await sharp(buf, { limitInputPixels: false }).metadata();
    } catch (e) {
      throw new ImageError('unsupported-image', `not a decodable image (${firstLine(e)})`);
    }
    format = meta.format;
    // EXIF orientations 5–8 rotate by 90°, so width and height swap once applied.
    const swap = autoOrient && (meta.orientation ?? 1) >= 5;
    [width, height] = swap ? [meta.height, meta.width] : [meta.width, meta.height];
  }
  if (!format || !INPUT_FORMATS.has(format))
    throw new ImageError(
      'unsupported-image',
      `unsupported image format '${format ?? 'unknown'}' (expected ${[...INPUT_FORMATS].join(', ')})`,
    );
  if (!width || !height) throw new ImageError('unsupported-image', `${format} image without dimensions`);
  if (width * height > maxPixels)
    throw new ImageError(
      'too-many-pixels',
      `image is ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`,
      'input',
    );
  return { format, width, height };
}

export interface DecodeOptions {
  /** Apply EXIF orientation (PIL does not; the server does, as browsers show photos). */
  autoOrient: boolean;
  /** Keep the alpha channel as its own plane (else it is dropped). */
  keepAlpha: boolean;
  /** Largest width × height decoded (Infinity: no limit). */
  maxPixels: number;
  /** libvips' strictness: `truncated` rejects cut-off data, `error` also corrupt data. */
  failOn: 'truncated' | 'error';
}

export interface DecodedImage {
  /** The colour, 3 channels (RGB), as PIL's convert('RGB'). */
  image: RawImage;
  /** The alpha plane (1 channel) when the image has one and it was asked for. */
  alpha: RawImage | null;
}

/** RGBA → RGB and A, in place of the RGBA buffer's first three quarters (no second full-size RGB copy). */
function splitAlpha(rgba: Uint8Array, width: number, height: number): DecodedImage {
  const n = width * height;
  const alpha = new Uint8Array(n);
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    rgba[d] = rgba[s];
    rgba[d + 1] = rgba[s + 1];
    rgba[d + 2] = rgba[s + 2];
    alpha[i] = rgba[s + 3];
  }
  return {
    image: { data: rgba.subarray(0, n * 3), width, height, channels: 3 },
    alpha: { data: alpha, width, height, channels: 1 },
  };
}

/** Decodes to 8-bit RGB (+ alpha). Truncated or corrupt data is an ImageError. */
export async function decodeImage(buf: Uint8Array, o: DecodeOptions): Promise<DecodedImage> {
  if (isBmp(buf)) {
    await probeImage(buf, o.maxPixels, o.autoOrient); // the pixel limit, from the header
    try {
      return { image: decodeBmp(buf), alpha: null };
    } catch (e) {
      throw new ImageError('unsupported-image', `image data could not be decoded (${firstLine(e)})`);
    }
  }
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    let s = sharp(buf, { limitInputPixels: Number.isFinite(o.maxPixels) ? o.maxPixels : false, failOn: o.failOn });
    if (o.autoOrient) s = s.rotate();
    s = s.toColourspace('srgb');
    if (!o.keepAlpha) s = s.removeAlpha();
    decoded = await s.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = firstLine(e);
    if (/pixel limit/i.test(msg))
      throw new ImageError('too-many-pixels', `image exceeds the limit of ${o.maxPixels} pixels`, 'input');
    throw new ImageError('unsupported-image', `image data could not be decoded (${msg})`);
  }
  const { width, height, channels } = decoded.info;
  const data = new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.length);
  if (channels === 4) return splitAlpha(data, width, height);
  if (channels !== 3) throw new Error(`decoder returned ${channels} channels, expected 3 or 4`);
  return { image: { data, width, height, channels: 3 }, alpha: null };
}

/** A file that cannot be used as a training image; the data pipeline skips it with one warning. */
export class UnusableImageError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'UnusableImageError';
  }
}

/**
 * A training or test image file as 8-bit RGB, exactly as the official loader reads it: EXIF
 * orientation ignored (PIL ignores it), alpha dropped, corrupt data refused.
 */
export async function decodeRgb(file: string): Promise<RawImage> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    throw new UnusableImageError(file, `cannot read (${firstLine(e)})`);
  }
  try {
    const d = await decodeImage(buf, { autoOrient: false, keepAlpha: false, failOn: 'error', maxPixels: Infinity });
    return d.image;
  } catch (e) {
    // The training pipeline's messages name the decoder's complaint only.
    const reason = firstLine(e).replace(/^(image data could not be decoded|not a decodable image) \((.*)\)$/, '$2');
    throw new UnusableImageError(file, reason);
  }
}
