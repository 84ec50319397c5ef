import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import YAML from 'yaml';
import { fromNchw } from '../../inference/postprocess';
import { ImageError, probeImage } from '../../core/image/decode';
import type { RawImage } from '../../core/image/rawImage';
import {
  decodeImage,
  parseSizeMode,
  preprocessImage,
  processingSize,
  resizeRaw,
  rgbToLuma,
  SIZE_PATTERN,
  toNchw,
} from '../../inference/preprocess';
import { noiseImage } from '../helpers/tinyModel';

const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

/** PNG whose IHDR claims `width`×`height` but whose pixel data is a 16-byte stub. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function rejectsWith(p: Promise<unknown>, reason: string, message: RegExp): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ImageError);
  expect((e as ImageError).reason).toBe(reason);
  expect((e as ImageError).message).toMatch(message);
}

describe('processingSize', () => {
  const model = { preferredSize: 256, sizeMultiple: 4 };
  it('native is the preferred square whatever the input (official test.py)', () => {
    expect(processingSize({ kind: 'native' }, { width: 640, height: 480 }, model)).toEqual({ width: 256, height: 256 });
  });
  it('long-side keeps the aspect ratio and rounds sides to the multiple', () => {
    expect(processingSize({ kind: 'long-side', side: 100 }, { width: 300, height: 200 }, model)).toEqual({
      width: 100,
      height: 68, // 66.7 → nearest multiple of 4
    });
    expect(processingSize({ kind: 'long-side', side: 512 }, { width: 480, height: 640 }, model)).toEqual({
      width: 384,
      height: 512,
    });
    expect(processingSize({ kind: 'long-side', side: 1 }, { width: 30, height: 20 }, model)).toEqual({
      width: 4,
      height: 4,
    });
  });
  it('original rounds the input size to the multiple', () => {
    expect(processingSize({ kind: 'original' }, { width: 301, height: 199 }, model)).toEqual({
      width: 300,
      height: 200,
    });
    expect(processingSize({ kind: 'original' }, { width: 1, height: 2 }, model)).toEqual({ width: 4, height: 4 });
  });
});

describe('pixel conversions', () => {
  it('rgbToLuma matches PIL convert("L")', () => {
    // Reference values printed by PIL 9 Image.new('RGB', (1, 1), c).convert('L').
    const cases: [number[], number][] = [
      [[255, 0, 0], 76],
      [[0, 255, 0], 150],
      [[0, 0, 255], 29],
      [[255, 255, 255], 255],
      [[1, 2, 3], 2],
      [[200, 100, 50], 124],
      [[17, 250, 129], 167],
    ];
    const rgb = Buffer.from(cases.flatMap(([c]) => c));
    expect([...rgbToLuma(rgb, cases.length)]).toEqual(cases.map(([, l]) => l));
  });

  it('toNchw lays channels out as planes and normalises to [-1, 1]', () => {
    // 2×1 image: pixel 0 = (0, 255, 51), pixel 1 = (255, 0, 102)
    const img: RawImage = { data: Buffer.from([0, 255, 51, 255, 0, 102]), width: 2, height: 1, channels: 3 };
    const t = toNchw(img, HALF);
    expect(t.dims).toEqual([1, 3, 1, 2]);
    const expected = [0, 255, 255, 0, 51, 102].map((v) => (v / 255 - 0.5) / 0.5);
    t.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    expect(t.data[0]).toBe(-1);
    expect(t.data[1]).toBe(1);
  });

  it('fromNchw maps [-1, 1] back to 0..255 with rounding and clamping (NaN → 0)', () => {
    const data = new Float32Array([-1, 0, 1, 2, -3, NaN, 0.5, -0.5]);
    const img = fromNchw(data, [1, 1, 2, 4], { mean: [0.5], std: [0.5] });
    expect(img).toMatchObject({ width: 4, height: 2, channels: 1 });
    expect([...img.data]).toEqual([0, 128, 255, 255, 0, 0, 191, 64]);
  });

  it('toNchw then fromNchw gives the original pixels back exactly', async () => {
    const { data, info } = await sharp(await noiseImage(13, 7))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const img: RawImage = { data, width: info.width, height: info.height, channels: 3 };
    const t = toNchw(img, HALF);
    expect(Buffer.from(fromNchw(t.data, t.dims, HALF).data).equals(data)).toBe(true);
  });
});

describe('probeImage', () => {
  it('reads format and size from the header', async () => {
    expect(await probeImage(await noiseImage(40, 30, 'jpeg'), 1e6)).toEqual({ format: 'jpeg', width: 40, height: 30 });
    expect(await probeImage(await noiseImage(40, 30, 'webp'), 1e6)).toEqual({ format: 'webp', width: 40, height: 30 });
  });

  it('rejects a decompression bomb from its header alone (the pixel data is not even there)', async () => {
    const bomb = pngHeaderOnly(100_000, 100_000);
    expect(bomb.length).toBeLessThan(100);
    await rejectsWith(probeImage(bomb, 16_777_216), 'too-many-pixels', /100000x100000 = 10000000000 pixels/);
    // Under the limit the same header passes the probe: the limit, not the odd file, rejected it.
    await expect(probeImage(pngHeaderOnly(64, 64), 16_777_216)).resolves.toMatchObject({ width: 64, height: 64 });
  });

  it('rejects non-images and unsupported formats', async () => {
    await rejectsWith(
      probeImage(Buffer.from('definitely not an image'), 1e6),
      'unsupported-image',
      /not a decodable image/,
    );
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
    await rejectsWith(probeImage(svg, 1e6), 'unsupported-image', /unsupported image format 'svg'/);
  });

  it('swaps width and height for EXIF orientations that rotate by 90°', async () => {
    const jpg = await sharp(await noiseImage(40, 30))
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect(await probeImage(jpg, 1e6)).toEqual({ format: 'jpeg', width: 30, height: 40 });
  });
});

describe('decodeImage', () => {
  it('rejects truncated data whose header is intact', async () => {
    for (const format of ['jpeg', 'png'] as const) {
      const full = await noiseImage(64, 64, format);
      const cut = full.subarray(0, Math.floor(full.length * 0.6));
      await expect(probeImage(cut, 1e6)).resolves.toMatchObject({ width: 64 });
      await rejectsWith(decodeImage(cut, 3, 1e6), 'unsupported-image', /could not be decoded/);
    }
  });

  it('applies EXIF orientation to the pixels', async () => {
    // Left half black, right half white; orientation 6 displays it rotated 90° clockwise.
    const raw = Buffer.alloc(32 * 16 * 3);
    for (let y = 0; y < 16; y++) for (let x = 16; x < 32; x++) raw.fill(255, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const jpg = await sharp(raw, { raw: { width: 32, height: 16, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const d = await decodeImage(jpg, 3, 1e6);
    expect([d.width, d.height]).toEqual([16, 32]);
    const at = (x: number, y: number) => d.data[(y * d.width + x) * 3];
    expect(at(8, 4)).toBeLessThan(10); // top: was the left (black) half
    expect(at(8, 28)).toBeGreaterThan(245); // bottom: was the right (white) half
  });

  it('drops alpha from the colour as PIL convert("RGB") does, and keeps it as its own plane', async () => {
    // Transparent black, and half-transparent red.
    const rgba = Buffer.from([0, 0, 0, 0, 255, 0, 0, 128]);
    const png = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    const d = await decodeImage(png, 3, 1e6);
    expect(d.channels).toBe(3);
    expect([...d.data]).toEqual([0, 0, 0, 255, 0, 0]);
    expect(d.alpha).not.toBeNull();
    expect([...d.alpha!.data]).toEqual([0, 128]);
    expect((await decodeImage(await noiseImage(4, 4), 3, 1e6)).alpha).toBeNull();
  });

  it('gives 3 channels for grayscale, CMYK and 16-bit inputs, and 1 channel (PIL luma) on request', async () => {
    const noise = await noiseImage(24, 16);
    const gray = await sharp(noise).grayscale().png().toBuffer();
    const cmyk = await sharp(noise).toColourspace('cmyk').jpeg().toBuffer();
    const rgb16 = await sharp(noise).toColourspace('rgb16').png().toBuffer();
    for (const b of [gray, cmyk, rgb16]) {
      const d = await decodeImage(b, 3, 1e6);
      expect([d.width, d.height, d.channels, d.data.length]).toEqual([24, 16, 3, 24 * 16 * 3]);
    }
    const { data: rgb } = await sharp(noise).raw().toBuffer({ resolveWithObject: true });
    const d16 = await decodeImage(rgb16, 3, 1e6);
    expect(Buffer.from(d16.data).equals(rgb)).toBe(true); // 16-bit → 8-bit is exact for values that came from 8-bit
    const luma = await decodeImage(noise, 1, 1e6);
    expect(luma.channels).toBe(1);
    expect(Buffer.from(luma.data).equals(rgbToLuma(rgb, 24 * 16))).toBe(true);
  });

  it('enforces the pixel limit while decoding too', async () => {
    await rejectsWith(decodeImage(await noiseImage(40, 40), 3, 1000), 'too-many-pixels', /limit of 1000 pixels/);
  });
});

describe('resizeRaw', () => {
  it('keeps a constant image constant and keeps the channel count (1 and 3)', async () => {
    for (const channels of [1, 3] as const) {
      const img: RawImage = { data: Buffer.alloc(30 * 20 * channels, 77), width: 30, height: 20, channels };
      for (const size of [
        { width: 8, height: 12 },
        { width: 64, height: 48 },
      ]) {
        const r = await resizeRaw(img, size);
        expect([r.width, r.height, r.channels]).toEqual([size.width, size.height, channels]);
        expect(r.data.length).toBe(size.width * size.height * channels);
        expect(r.data.every((v) => v === 77)).toBe(true);
      }
    }
  });

  it('is bicubic: it overshoots at a sharp edge when enlarging (bilinear never would)', async () => {
    const row = [...Array(8).fill(50), ...Array(8).fill(200)];
    const img: RawImage = { data: Buffer.from(row), width: 16, height: 1, channels: 1 };
    const r = await resizeRaw(img, { width: 64, height: 1 });
    expect(Math.min(...r.data)).toBeLessThan(50);
    expect(Math.max(...r.data)).toBeGreaterThan(200);
  });
});

describe('preprocessImage', () => {
  it('returns the exact NCHW tensor: decode → bicubic resize → normalise', async () => {
    const jpg = await noiseImage(30, 20, 'jpeg');
    const stages: string[] = [];
    const p = await preprocessImage(jpg, {
      channels: 3,
      size: { kind: 'original' },
      preferredSize: 16,
      sizeMultiple: 4,
      ...HALF,
      maxPixels: 1e6,
      onStage: (s) => stages.push(s),
    });
    expect(stages).toEqual(['decode', 'preprocess']);
    expect(p.original).toEqual({ width: 30, height: 20 });
    expect(p.processing).toEqual({ width: 32, height: 20 });
    expect(p.input.dims).toEqual([1, 3, 20, 32]);
    const manual = toNchw(await resizeRaw(await decodeImage(jpg, 3, 1e6), { width: 32, height: 20 }), HALF);
    expect(p.input.data).toEqual(manual.data);
    expect(Math.min(...p.input.data)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...p.input.data)).toBeLessThanOrEqual(1);
  });

  it('refuses a processing size over the pixel limit before decoding', async () => {
    const png = await noiseImage(30, 20);
    await rejectsWith(
      preprocessImage(png, {
        channels: 3,
        size: { kind: 'long-side', side: 5000 },
        preferredSize: 16,
        sizeMultiple: 4,
        ...HALF,
        maxPixels: 1e6,
      }),
      'too-many-pixels',
      /processing size 5000x3332/,
    );
  });
});

describe('parseSizeMode (shared by POST /translate and --size)', () => {
  it('accepts exactly what the API’s size parameter allows', () => {
    const spec = YAML.parse(readFileSync(path.join(__dirname, '..', '..', 'openapi.yaml'), 'utf8'));
    const params: { name: string; schema: { pattern?: string } }[] = spec.paths['/translate'].post.parameters;
    expect(params.find((p) => p.name === 'size')!.schema.pattern).toBe(SIZE_PATTERN.source);
    expect(parseSizeMode('native')).toEqual({ kind: 'native' });
    expect(parseSizeMode('original')).toEqual({ kind: 'original' });
    expect(parseSizeMode('512')).toEqual({ kind: 'long-side', side: 512 });
    for (const bad of ['', '0', '-5', '12.5', '100000', 'Native', ' 256'])
      expect(() => parseSizeMode(bad)).toThrow(`size must be native, original or a long side of 1-99999 pixels`);
  });
});
