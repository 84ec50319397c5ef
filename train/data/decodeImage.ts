/**
 * Reads an image file as 8-bit RGB, as the official loader's `Image.open(path).convert('RGB')`:
 * alpha is dropped (not composited), grayscale and palette images are expanded, 16-bit images are
 * scaled to 8 bits. EXIF orientation is ignored, as PIL ignores it.
 */
import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import { decodeBmp, isBmp } from './bmp';
import { firstLine } from '../../core/errorText';

export interface RawImage {
  /** Interleaved channels, row-major, top row first. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
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

export async function decodeRgb(file: string): Promise<RawImage> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    throw new UnusableImageError(file, `cannot read (${firstLine(e)})`);
  }
  if (isBmp(buf)) {
    try {
      return decodeBmp(buf);
    } catch (e) {
      throw new UnusableImageError(file, firstLine(e));
    }
  }
  try {
    // failOn 'error' rejects truncated and corrupt data instead of returning partly grey images.
    const { data, info } = await sharp(buf, { failOn: 'error' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: 3,
    };
  } catch (e) {
    throw new UnusableImageError(file, firstLine(e));
  }
}
