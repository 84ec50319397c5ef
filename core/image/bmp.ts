/**
 * A minimal BMP decoder: sharp (libvips without ImageMagick) cannot read BMP, which the official
 * image folder accepts. Handles the uncompressed files image tools write: 24-bit and 32-bit BI_RGB,
 * 32-bit BI_BITFIELDS with the standard BGRX masks, and 8-bit palette (grayscale BMPs). Anything
 * else (RLE, 1/4/16-bit, OS/2 headers) is rejected with a message saying what it is.
 */

import type { ImageSize, RawImage } from './rawImage';

const BI_RGB = 0;
const BI_BITFIELDS = 3;

export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d; // 'BM'
}

/** Width and height from the header alone (for the pixel limit before decoding). */
export function bmpSize(buf: Uint8Array): ImageSize {
  if (!isBmp(buf) || buf.length < 26) throw new Error('not a BMP file or truncated header');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

export function decodeBmp(buf: Uint8Array): RawImage {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!isBmp(buf) || buf.length < 54) throw new Error('not a BMP file or truncated header');
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40) throw new Error(`unsupported BMP header (${headerSize} bytes; OS/2 bitmaps are not supported)`);
  const width = view.getInt32(18, true);
  const rawHeight = view.getInt32(22, true);
  const bpp = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const colorsUsed = view.getUint32(46, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) throw new Error(`invalid BMP size ${width}x${rawHeight}`);

  let channelOrder: 'bgr' | 'bgrx' | 'palette';
  if (compression === BI_RGB && bpp === 24) channelOrder = 'bgr';
  else if (compression === BI_RGB && bpp === 32) channelOrder = 'bgrx';
  else if (compression === BI_BITFIELDS && bpp === 32) {
    // Masks follow a 40-byte header, or sit inside larger (V3/V4/V5) headers at the same place.
    if (buf.length < 66) throw new Error('truncated BMP header');
    const masks = [view.getUint32(54, true), view.getUint32(58, true), view.getUint32(62, true)];
    if (masks[0] !== 0x00ff0000 || masks[1] !== 0x0000ff00 || masks[2] !== 0x000000ff) {
      throw new Error(`unsupported BMP bit masks ${masks.map((m) => m.toString(16)).join('/')}`);
    }
    channelOrder = 'bgrx';
  } else if (compression === BI_RGB && bpp === 8) channelOrder = 'palette';
  else throw new Error(`unsupported BMP encoding (${bpp}-bit, compression ${compression})`);

  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + stride * height > buf.length) throw new Error('truncated BMP pixel data');

  let palette: Uint8Array | null = null;
  if (channelOrder === 'palette') {
    const count = colorsUsed || 256;
    const start = 14 + headerSize;
    if (start + count * 4 > dataOffset) throw new Error('truncated BMP palette');
    palette = buf.subarray(start, start + count * 4);
  }

  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (channelOrder === 'palette') {
        const idx = buf[row + x] * 4;
        if (idx + 2 >= palette!.length) throw new Error('BMP palette index out of range');
        out[o] = palette![idx + 2];
        out[o + 1] = palette![idx + 1];
        out[o + 2] = palette![idx];
      } else {
        const p = row + x * (channelOrder === 'bgr' ? 3 : 4);
        out[o] = buf[p + 2];
        out[o + 1] = buf[p + 1];
        out[o + 2] = buf[p];
      }
    }
  }
  return { data: out, width, height, channels: 3 };
}
