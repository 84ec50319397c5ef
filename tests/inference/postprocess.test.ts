/** Model output → image bytes: encoding in each output format and the PNG size/speed levels. */
import sharp from 'sharp';
import type { RawImage } from '../../core/image/rawImage';
import * as path from 'node:path';
import { encodeImage, PNG_LEVELS, type PngLevel } from '../../inference/postprocess';
import { rgbToLuma } from '../../inference/preprocess';
import { noiseImage } from '../helpers/tinyModel';

describe('encodeImage', () => {
  it('encodes png, jpeg and webp, resizing when asked; 1-channel PNGs stay grayscale', async () => {
    const { data, info } = await sharp(await noiseImage(16, 12))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const img: RawImage = { data, width: info.width, height: info.height, channels: 3 };
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const meta = await sharp(await encodeImage(img, { format, size: { width: 33, height: 21 } })).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([format, 33, 21]);
    }
    const png = await encodeImage(img, { format: 'png' });
    const back = await sharp(png).raw().toBuffer();
    expect(back.equals(data)).toBe(true); // PNG is lossless
    const gray: RawImage = { data: rgbToLuma(data, 16 * 12), width: 16, height: 12, channels: 1 };
    const gmeta = await sharp(await encodeImage(gray, { format: 'png' })).metadata();
    expect(gmeta.channels).toBe(1);
  });

  it('PNG levels: all lossless; fast stores the pixels, balanced and small compress a smooth picture', async () => {
    const w = 64;
    const data = Buffer.alloc(w * w * 3);
    for (let i = 0; i < data.length; i++) data[i] = (Math.floor(i / 3) % w) * 4 + (i % 3) * 10; // smooth ramps
    const img: RawImage = { data, width: w, height: w, channels: 3 };
    const sizes: Record<string, number> = {};
    for (const png of Object.keys(PNG_LEVELS) as PngLevel[]) {
      const out = await encodeImage(img, { format: 'png', png });
      expect((await sharp(out).raw().toBuffer()).equals(data)).toBe(true);
      sizes[png] = out.length;
    }
    expect(sizes.fast).toBeGreaterThan(data.length); // stored: the raw pixels plus PNG framing
    expect(sizes.balanced).toBeLessThan(data.length / 4);
    expect(sizes.small).toBeLessThanOrEqual(sizes.balanced);
  });

  it('PNG by default: filtered deflate, so a 64² answer is a few KB, not the 12 KB of stored pixels', async () => {
    const emojiFile = path.join(__dirname, '..', '..', 'examples', 'twemoji', 'grinning-face.png');
    const { data, info } = await sharp(emojiFile).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const emoji: RawImage = { data, width: info.width, height: info.height, channels: 3 };
    expect(emoji.width * emoji.height).toBe(64 * 64);
    const out = await encodeImage(emoji, { format: 'png' });
    expect((await sharp(out).raw().toBuffer()).equals(data)).toBe(true);
    expect(out.length).toBeLessThan(data.length / 3);
    expect(out.equals(await encodeImage(emoji, { format: 'png', png: 'balanced' }))).toBe(true);
  });
});
