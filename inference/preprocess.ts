/**
 * Image bytes → model input, as the official CycleGAN test pipeline does it: PIL
 * `open().convert('RGB')`, optional `Grayscale(1)`, `Resize((S, S), BICUBIC)`, `ToTensor`,
 * `Normalize(mean, std)`. The resize is core/image/resample.ts, PIL's bicubic bit for bit, the
 * same code the trainer uses (sharp's `cubic` differs from it by up to ~150 grey levels).
 *
 * Two deliberate differences from PIL: EXIF orientation is applied (as browsers show photos), and
 * an alpha channel is kept aside (the colour is PIL's, alpha dropped) so the output can carry it.
 */
import { decodeImage as decodePixels, ImageError, probeImage } from '../core/image/decode';
import { toGrayscale, type ImageSize, type RawImage } from '../core/image/rawImage';
import { resizeBicubic } from '../core/image/resample';
import { resize } from './resamplePool';

/** Default largest decoded input (width × height): 100 MP, about 300 MB of RGB while it is resized. */
export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;
/** Default largest processing size (what the network runs at). */
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

export type SizeMode = { kind: 'native' } | { kind: 'long-side'; side: number } | { kind: 'original' };

/** `size` as the API and the batch CLI spell it: `native`, `original`, or the long side in pixels. */
export const SIZE_PATTERN = /^(native|original|[1-9][0-9]{0,4})$/;
/** SIZE_PATTERN in words, for messages. */
export const SIZE_WORDS = 'native, original or a long side of 1-99999 pixels';

export function parseSizeMode(s: string): SizeMode {
  if (!SIZE_PATTERN.test(s)) throw new Error(`size must be ${SIZE_WORDS}, got '${s}'`);
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

/** PIL's `convert('L')` on interleaved RGB. */
export function rgbToLuma(rgb: Uint8Array, pixels: number): Uint8Array {
  return toGrayscale({ data: rgb.subarray(0, pixels * 3), width: pixels, height: 1, channels: 3 }).data;
}

/**
 * Decodes as the server does: EXIF-oriented, RGB as PIL's convert('RGB') (luma for `channels` 1),
 * with the alpha plane when the image has one.
 */
export async function decodeImage(
  buf: Uint8Array,
  channels: 1 | 3,
  maxPixels: number,
): Promise<RawImage & { alpha: RawImage | null }> {
  const d = await decodePixels(buf, { autoOrient: true, keepAlpha: true, failOn: 'truncated', maxPixels });
  const image = channels === 1 ? toGrayscale(d.image) : d.image;
  return { ...image, alpha: d.alpha };
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

/**
 * The size mode a request really runs at. When the output goes back to the input's size
 * (`fit=original`), a long side above the input's own would compute pixels only to throw them away:
 * it runs at the input's size (`original`) instead. `native` stays the model's square, as test.py.
 */
export function effectiveSizeMode(mode: SizeMode, input: ImageSize, backToInput: boolean): SizeMode {
  return backToInput && mode.kind === 'long-side' && mode.side > Math.max(input.width, input.height)
    ? { kind: 'original' }
    : mode;
}

/** PIL-exact bicubic resize; returns the input itself when the size already matches. */
export function resizeRaw<T extends RawImage>(img: T, size: ImageSize): RawImage {
  if (img.width === size.width && img.height === size.height) return img;
  return resizeBicubic(img, size.width, size.height);
}

/** Model value of each 8-bit level of channel `c`: `(x/255 - mean[c]) / std[c]` in float32 as torch. */
export function normalizationLut(norm: Normalization, c: number): Float32Array {
  const lut = new Float32Array(256);
  const mean = Math.fround(norm.mean[c % norm.mean.length]);
  const std = Math.fround(norm.std[c % norm.std.length]);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
  return lut;
}

/** HWC uint8 → NCHW float32, `(x/255 - mean[c]) / std[c]` (ToTensor + Normalize) in float32 as torch. */
export function toNchw(img: RawImage, norm: Normalization): ModelInput {
  const { width, height, channels } = img;
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const lut = normalizationLut(norm, c);
    const base = c * plane;
    for (let i = 0, j = c; i < plane; i++, j += channels) out[base + i] = lut[img.data[j]];
  }
  return { data: out, dims: [1, channels, height, width] };
}

export type PreprocessStage = 'decode' | 'preprocess';

export interface PixelLimits {
  /** Largest processing size (width × height the network runs at): MAX_PIXELS, --max_pixels. */
  maxPixels: number;
  /** Largest decoded input (width × height): MAX_INPUT_PIXELS, --max_input_pixels. */
  maxInputPixels?: number;
}

export interface PreprocessOptions extends ModelGeometry, Normalization, PixelLimits {
  channels: 1 | 3;
  size: SizeMode;
  /** Called with each stage's duration in milliseconds (header probe + decode, then resize + tensor). */
  onStage?: (stage: PreprocessStage, ms: number) => void;
}

export interface Preprocessed {
  input: ModelInput;
  /** The decoded image's (oriented) size, which `fit=original` restores. */
  original: ImageSize;
  processing: ImageSize;
  /** The input's alpha plane at its original size, when it has one. */
  alpha: RawImage | null;
}

export interface Prepared {
  /** Decoded, oriented and resized to the processing size: 8-bit HWC. */
  image: RawImage;
  original: ImageSize;
  processing: ImageSize;
  alpha: RawImage | null;
}

/** The header's (oriented) size, with the input limit checked on it, and the size the generator runs at. */
export async function measureImage(
  buf: Uint8Array,
  o: ModelGeometry & { size: SizeMode; maxInputPixels?: number; backToInput?: boolean },
): Promise<{ header: ImageSize; processing: ImageSize }> {
  const header = await probeImage(buf, o.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS);
  return { header, processing: processingSize(effectiveSizeMode(o.size, header, o.backToInput ?? false), header, o) };
}

/** The processing limit (`maxPixels`): an ImageError naming the size when it is over. */
export function checkProcessingSize(size: ImageSize, maxPixels: number): void {
  if (size.width * size.height > maxPixels)
    throw new ImageError(
      'too-many-pixels',
      `processing size ${size.width}x${size.height} = ${size.width * size.height} pixels exceeds the limit of ${maxPixels}`,
      'processing',
    );
}

/**
 * Bytes → the 8-bit image at `processing` (from measureImage). The processing limit (`maxPixels`)
 * is checked before any pixel is decoded.
 */
export async function prepareImage(buf: Uint8Array, o: PreprocessOptions, processing: ImageSize): Promise<Prepared> {
  const size = processing;
  checkProcessingSize(size, o.maxPixels);
  const { alpha, ...decoded } = await decodeImage(buf, o.channels, o.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS);
  const original = { width: decoded.width, height: decoded.height };
  return { image: await resize(decoded, size, true), original, processing: size, alpha };
}

/**
 * The whole pipeline in one call: the exact NCHW tensor the server feeds to onnxruntime for these
 * bytes and options (inference/model.ts runs the same steps, deciding its plan in between).
 */
export async function preprocessImage(buf: Uint8Array, o: PreprocessOptions): Promise<Preprocessed> {
  let t = performance.now();
  const lap = (stage: PreprocessStage) => {
    const now = performance.now();
    o.onStage?.(stage, now - t);
    t = now;
  };
  const { processing } = await measureImage(buf, o);
  const p = await prepareImage(buf, o, processing);
  lap('decode');
  const input = toNchw(p.image, o);
  lap('preprocess');
  return { input, original: p.original, processing: p.processing, alpha: p.alpha };
}
