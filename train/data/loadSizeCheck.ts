/**
 * A warning for the costly mistake of training small images at the default --load_size: 64 px
 * emoji resized to 286 px make every iteration cost as for 256 px crops (about 16 times the work
 * of training them at their own size), and nothing else says so.
 */
import sharp from 'sharp';
import type { TrainOptions } from '../trainOptions';

/** Warn from this enlargement factor on. */
export const ENLARGEMENT_WARNING_FACTOR = 2;

/** The factor by which `--load_size` scales an image of this size, or null where no resize happens. */
export function enlargement(
  o: Pick<TrainOptions, 'load_size' | 'preprocess'>,
  image: { width: number; height: number },
): number | null {
  switch (o.preprocess) {
    case 'resize_and_crop':
      return o.load_size / Math.max(image.width, image.height);
    case 'scale_width':
    case 'scale_width_and_crop':
      return o.load_size / image.width;
    default:
      return null;
  }
}

/** The warning line for one domain's image, or null when the enlargement is under the threshold. */
export function enlargementWarning(
  o: Pick<TrainOptions, 'load_size' | 'crop_size' | 'preprocess'>,
  image: { width: number; height: number },
  where: string,
): string | null {
  const f = enlargement(o, image);
  if (f === null || f < ENLARGEMENT_WARNING_FACTOR) return null;
  const side = Math.max(image.width, image.height);
  return (
    `--load_size ${o.load_size} enlarges the ${image.width}x${image.height} images of ${where} ${f.toFixed(1)} times ` +
    `(each iteration then computes ${o.crop_size} px crops of upscaled pixels); to train at their own size pass ` +
    `--load_size ${side} --crop_size ${side}`
  );
}

/** Checks the first image of each domain; logs one warning per domain that is enlarged. */
export async function warnIfEnlarged(
  o: Pick<TrainOptions, 'load_size' | 'crop_size' | 'preprocess'>,
  first: { where: string; file: string }[],
  log: (message: string) => void,
): Promise<void> {
  for (const { where, file } of first) {
    const meta = await sharp(file)
      .metadata()
      .catch(() => null);
    if (!meta?.width || !meta.height) continue; // unreadable images are reported by the loader
    const w = enlargementWarning(o, { width: meta.width, height: meta.height }, where);
    if (w) log(`warning: ${w}`);
  }
}
