/**
 * The official `get_transform` for unaligned training data, on decoded 8-bit images:
 *   [grayscale] → resize (resize_* / scale_width*) → random crop (*crop) → make sides multiples of 4
 *   (none) → random horizontal flip (unless no_flip) → scale to [-1, 1].
 * Output is float32 HWC (the tfjs NHWC layout without N). Randomness comes from the Rng passed in,
 * drawn in a fixed order (crop y, crop x, flip) whatever the mode, so a caller's stream stays aligned.
 *
 * Resampling is PIL-exact bicubic (core/image/resample.ts explains why not sharp's cubic kernel); sharp
 * only decodes.
 */
import type { TrainOptions } from '../trainOptions';
import type { Rng } from '../../core/rng';
import { UnusableImageError } from '../../core/image/decode';
import { toGrayscale, type RawImage } from '../../core/image/rawImage';
import { resizeBicubic } from '../../core/image/resample';

export type TransformOptions = Pick<TrainOptions, 'preprocess' | 'load_size' | 'crop_size' | 'no_flip'>;

export interface TransformPlan {
  /** Size to resample to, or null to keep the decoded size. */
  resize: { width: number; height: number } | null;
  /** Square crop taken after the resize, or null for none. */
  crop: { x: number; y: number; size: number } | null;
  flip: boolean;
}

export interface ImageTensor {
  /** float32 in [-1, 1], HWC. */
  data: Float32Array;
  shape: [number, number, number];
}

/** Python 3's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The official __make_power_2 with base 4 (never below one step, where the official fails). */
export function makeMultipleOf(width: number, height: number, base = 4): { width: number; height: number } {
  return {
    width: Math.max(base, roundHalfEven(width / base) * base),
    height: Math.max(base, roundHalfEven(height / base) * base),
  };
}

/** Size after the resize step for a decoded `width`×`height` image. */
export function resizeTarget(o: TransformOptions, width: number, height: number): { width: number; height: number } {
  switch (o.preprocess) {
    case 'resize_and_crop':
      return { width: o.load_size, height: o.load_size };
    case 'scale_width':
    case 'scale_width_and_crop': {
      // The official __scale_width: width to load_size, height keeps the aspect but never below crop_size.
      let target =
        width === o.load_size && height >= o.crop_size
          ? { width, height }
          : { width: o.load_size, height: Math.trunc(Math.max((o.load_size * height) / width, o.crop_size)) };
      // Without a crop, the height would reach the generator as is; the official code then fails
      // on sides that are not multiples of 4, so round it the way preprocess 'none' does.
      if (o.preprocess === 'scale_width') target = makeMultipleOf(target.width, target.height);
      return target;
    }
    case 'crop':
      return { width, height };
    case 'none':
      return makeMultipleOf(width, height);
  }
}

/** Decides resize, crop and flip for one image, drawing exactly three numbers from `rng`. */
export function planTransform(o: TransformOptions, width: number, height: number, rng: Rng): TransformPlan {
  const uY = rng.next();
  const uX = rng.next();
  const uFlip = rng.next();
  const size = resizeTarget(o, width, height);
  let crop: TransformPlan['crop'] = null;
  if (o.preprocess.includes('crop')) {
    const s = o.crop_size;
    if (size.width < s || size.height < s) {
      throw new Error(
        `is ${size.width}x${size.height} after --preprocess ${o.preprocess}, smaller than --crop_size ${s}`,
      );
    }
    crop = { x: Math.floor(uX * (size.width - s + 1)), y: Math.floor(uY * (size.height - s + 1)), size: s };
  }
  return {
    resize: size.width === width && size.height === height ? null : size,
    crop,
    // torchvision's RandomHorizontalFlip flips when rand < 0.5.
    flip: !o.no_flip && uFlip < 0.5,
  };
}

/** uint8 → float32 exactly as ToTensor() then Normalize(0.5, 0.5) compute it in float32. */
const TO_UNIT = (() => {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - 0.5) / 0.5);
  return lut;
})();

/** Runs a plan on a decoded image (already converted to the wanted channel count). */
export function applyPlan(img: RawImage, plan: TransformPlan): ImageTensor {
  const src = plan.resize ? resizeBicubic(img, plan.resize.width, plan.resize.height) : img;
  const c = src.channels;
  const x0 = plan.crop?.x ?? 0;
  const y0 = plan.crop?.y ?? 0;
  const w = plan.crop?.size ?? src.width;
  const h = plan.crop?.size ?? src.height;
  const dst = new Float32Array(w * h * c);
  const d = src.data;
  for (let y = 0; y < h; y++) {
    const rowStart = ((y0 + y) * src.width + x0) * c;
    let o = y * w * c;
    for (let x = 0; x < w; x++) {
      const p = rowStart + (plan.flip ? w - 1 - x : x) * c;
      for (let k = 0; k < c; k++) dst[o++] = TO_UNIT[d[p + k]];
    }
  }
  return { data: dst, shape: [h, w, c] };
}

/** Grayscale (for nc = 1), plan and apply: the whole per-image transform. */
export function transformImage(img: RawImage, o: TransformOptions, nc: 1 | 3, rng: Rng, file = 'image'): ImageTensor {
  const src = nc === 1 ? toGrayscale(img) : img;
  let plan: TransformPlan;
  try {
    plan = planTransform(o, src.width, src.height, rng);
  } catch (e) {
    throw new UnusableImageError(file, (e as Error).message);
  }
  return applyPlan(src, plan);
}
