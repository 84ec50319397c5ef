import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../../core/rng';
import { decodeRgb, UnusableImageError } from '../../../core/image/decode';
import { toGrayscale, type RawImage } from '../../../core/image/rawImage';
import { resizeBicubic } from '../../../core/image/resample';
import {
  applyPlan,
  makeMultipleOf,
  planTransform,
  resizeTarget,
  transformImage,
  type TransformOptions,
} from '../../../train/data/transforms';

const FIX = path.join(__dirname, '..', '..', 'fixtures', 'data');

/** Fixture PNGs written by tools/make_data_fixtures.py with PIL. */
async function fixture(name: string): Promise<RawImage> {
  return decodeRgb(path.join(FIX, name));
}

function channel0(img: RawImage): Uint8Array {
  return img.data.filter((_, i) => i % img.channels === 0);
}

/** A synthetic image whose pixel (x, y, k) is distinct enough to locate crops and flips. */
function ramp(width: number, height: number, channels: 1 | 3 = 3): RawImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let k = 0; k < channels; k++) data[(y * width + x) * channels + k] = (x * 7 + y * 13 + k * 50) % 256;
  return { data, width, height, channels };
}

const base: TransformOptions = { preprocess: 'resize_and_crop', load_size: 286, crop_size: 256, no_flip: false };

describe('PIL-exact bicubic resize', () => {
  it.each([
    [40, 31],
    [23, 30],
    [9, 7],
    [5, 4],
    [30, 17],
  ])('matches PIL Image.resize(BICUBIC) to %ix%i bit for bit (RGB and L)', async (w, h) => {
    const src = await fixture('resize_src.png');
    expect([src.width, src.height]).toEqual([23, 17]);
    const ours = resizeBicubic(src, w, h);
    expect([ours.width, ours.height, ours.channels]).toEqual([w, h, 3]);
    expect(Buffer.from(ours.data).equals(Buffer.from((await fixture(`resize_${w}x${h}.png`)).data))).toBe(true);
    const gray = resizeBicubic(toGrayscale(src), w, h);
    expect(gray.channels).toBe(1);
    expect(Buffer.from(gray.data).equals(Buffer.from(channel0(await fixture(`resize_L_${w}x${h}.png`))))).toBe(true);
  });

  it('returns a copy for an unchanged size and rejects bad targets', () => {
    const img = ramp(4, 3);
    const same = resizeBicubic(img, 4, 3);
    expect(same.data).not.toBe(img.data);
    expect(Array.from(same.data)).toEqual(Array.from(img.data));
    expect(() => resizeBicubic(img, 0, 3)).toThrow(/invalid resize target/);
  });
});

describe('grayscale and scaling to [-1, 1]', () => {
  it("converts RGB to L exactly as PIL's convert('L')", async () => {
    const gray = toGrayscale(await fixture('resize_src.png'));
    expect(Buffer.from(gray.data).equals(Buffer.from(channel0(await fixture('gray.png'))))).toBe(true);
  });

  it('maps 0..255 to the float32 values ToTensor + Normalize(0.5, 0.5) give', () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'to_tensor_normalize.json'), 'utf8')) as number[];
    const img: RawImage = { data: Uint8Array.from({ length: 256 }, (_, i) => i), width: 256, height: 1, channels: 1 };
    const out = applyPlan(img, { resize: null, crop: null, flip: false });
    expect(out.shape).toEqual([1, 256, 1]);
    expect(Array.from(out.data)).toEqual(expected);
    expect(out.data[0]).toBe(-1);
    expect(out.data[255]).toBe(1);
  });
});

describe('transform plans', () => {
  it('resize_and_crop: load_size square, crop inside it, drawn from the Rng', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const plan = planTransform(base, 500, 333, Rng.derive(5, i));
      expect(plan.resize).toEqual({ width: 286, height: 286 });
      const { x, y, size } = plan.crop!;
      expect(size).toBe(256);
      expect(x >= 0 && x <= 30 && y >= 0 && y <= 30).toBe(true);
      seen.add(`${x},${y}`);
    }
    expect(seen.size).toBeGreaterThan(30);
    expect(planTransform(base, 500, 333, new Rng(9))).toEqual(planTransform(base, 500, 333, new Rng(9)));
  });

  it('draws exactly three numbers whatever the mode', () => {
    for (const preprocess of ['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'] as const) {
      const r = new Rng(1);
      planTransform({ ...base, preprocess, no_flip: true }, 300, 300, r);
      const ref = new Rng(1);
      ref.next();
      ref.next();
      ref.next();
      expect(r.state()).toEqual(ref.state());
    }
  });

  it('flips about half of the time, never with no_flip', () => {
    let flips = 0;
    for (let i = 0; i < 1000; i++) if (planTransform(base, 300, 300, Rng.derive(6, i)).flip) flips++;
    expect(Math.abs(flips - 500)).toBeLessThan(64); // 4 sd of Binomial(1000, 0.5)
    for (let i = 0; i < 200; i++)
      expect(planTransform({ ...base, no_flip: true }, 300, 300, Rng.derive(6, i)).flip).toBe(false);
  });

  it('scale_width(_and_crop) follows the official __scale_width', () => {
    const o: TransformOptions = { preprocess: 'scale_width_and_crop', load_size: 100, crop_size: 64, no_flip: true };
    expect(resizeTarget(o, 200, 150)).toEqual({ width: 100, height: 75 });
    expect(resizeTarget(o, 200, 101)).toEqual({ width: 100, height: 64 }); // never below crop_size
    expect(resizeTarget(o, 100, 70)).toEqual({ width: 100, height: 70 }); // already right: untouched
    expect(resizeTarget(o, 300, 200)).toEqual({ width: 100, height: 66 }); // int() truncates 66.67
    // Without a crop the height is rounded to a multiple of 4 (the generator needs it): 66 / 4 = 16.5 -> 16.
    expect(resizeTarget({ ...o, preprocess: 'scale_width' }, 300, 200)).toEqual({ width: 100, height: 64 });
    expect(resizeTarget({ ...o, preprocess: 'scale_width' }, 300, 210)).toEqual({ width: 100, height: 72 }); // 70 -> 72
    expect(resizeTarget({ ...o, preprocess: 'crop' }, 300, 200)).toEqual({ width: 300, height: 200 });
  });

  it('none rounds sides to multiples of 4 like Python round() (halves to even)', () => {
    expect(makeMultipleOf(6, 10)).toEqual({ width: 8, height: 8 }); // 1.5 -> 2, 2.5 -> 2
    expect(makeMultipleOf(14, 13)).toEqual({ width: 16, height: 12 }); // 3.5 -> 4, 3.25 -> 3
    expect(makeMultipleOf(64, 1)).toEqual({ width: 64, height: 4 });
    expect(resizeTarget({ ...base, preprocess: 'none' }, 30, 29)).toEqual({ width: 32, height: 28 });
  });

  it('rejects images smaller than the crop with an UnusableImageError', () => {
    const o: TransformOptions = { preprocess: 'crop', load_size: 64, crop_size: 32, no_flip: false };
    expect(() => transformImage(ramp(40, 20), o, 3, new Rng(1), 'small.png')).toThrow(UnusableImageError);
    expect(() => transformImage(ramp(40, 20), o, 3, new Rng(1), 'small.png')).toThrow(
      'small.png: is 40x20 after --preprocess crop, smaller than --crop_size 32',
    );
  });
});

describe('applying plans', () => {
  const img = ramp(20, 16);
  const value = (v: number) => Math.fround(Math.fround(Math.fround(v / 255) - 0.5) / 0.5);

  it('crops the right window and flips it horizontally', () => {
    const plain = applyPlan(img, { resize: null, crop: { x: 3, y: 5, size: 8 }, flip: false });
    expect(plain.shape).toEqual([8, 8, 3]);
    for (const [y, x, k] of [
      [0, 0, 0],
      [7, 7, 2],
      [2, 5, 1],
    ]) {
      expect(plain.data[(y * 8 + x) * 3 + k]).toBe(value(img.data[((y + 5) * 20 + x + 3) * 3 + k]));
    }
    const flipped = applyPlan(img, { resize: null, crop: { x: 3, y: 5, size: 8 }, flip: true });
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++)
        for (let k = 0; k < 3; k++)
          expect(flipped.data[(y * 8 + x) * 3 + k]).toBe(plain.data[(y * 8 + (7 - x)) * 3 + k]);
  });

  it('resizes before cropping', () => {
    const plan = { resize: { width: 24, height: 24 }, crop: { x: 2, y: 1, size: 16 }, flip: false };
    const out = applyPlan(img, plan);
    const resized = resizeBicubic(img, 24, 24);
    expect(out.data[0]).toBe(value(resized.data[(1 * 24 + 2) * 3]));
    expect(out.data[out.data.length - 1]).toBe(value(resized.data[((1 + 15) * 24 + 2 + 15) * 3 + 2]));
  });

  it('is deterministic for a given Rng state and covers every mode', () => {
    const modes: [TransformOptions, [number, number, number]][] = [
      [{ preprocess: 'resize_and_crop', load_size: 24, crop_size: 16, no_flip: false }, [16, 16, 3]],
      [{ preprocess: 'crop', load_size: 24, crop_size: 12, no_flip: false }, [12, 12, 3]],
      // height int(max(16 * 12 / 20, 8)) = 9, rounded to a multiple of 4: 8
      [{ preprocess: 'scale_width', load_size: 12, crop_size: 8, no_flip: false }, [8, 12, 3]],
      [{ preprocess: 'scale_width_and_crop', load_size: 24, crop_size: 16, no_flip: false }, [16, 16, 3]],
      [{ preprocess: 'none', load_size: 24, crop_size: 16, no_flip: false }, [16, 20, 3]],
    ];
    for (const [o, shape] of modes) {
      const a = transformImage(img, o, 3, new Rng(11));
      const b = transformImage(img, o, 3, new Rng(11));
      expect(a.shape).toEqual(shape);
      expect(a.data).toEqual(b.data);
      expect(a.data.every((v) => v >= -1 && v <= 1)).toBe(true);
    }
  });

  it('converts to one channel before resizing when nc = 1', () => {
    const o: TransformOptions = { preprocess: 'resize_and_crop', load_size: 24, crop_size: 16, no_flip: true };
    const out = transformImage(img, o, 1, new Rng(2));
    expect(out.shape).toEqual([16, 16, 1]);
    const plan = planTransform(o, 20, 16, new Rng(2));
    expect(out.data).toEqual(applyPlan(toGrayscale(img), plan).data);
  });
});
