/**
 * Checks an exported ONNX generator against a reference implementation: the same inputs go
 * through onnxruntime-node (CPU execution provider) and through the reference, and the largest
 * absolute difference must stay within a tolerance.
 */
import { createSession, float32Tensor, type OrtTensor } from '../core/onnx/ortRuntime';
import { INPUT_NAME, OUTPUT_NAME } from './onnxBuilder';
import type { ReferenceFn } from './referenceForward';
import { Rng } from '../core/rng';
import type { RawImage } from '../core/image/rawImage';

/** fp32 graphs must match the reference this closely (outputs are tanh values in [-1, 1]). */
export const FP32_TOLERANCE = 1e-4;
/**
 * Half-precision graphs: max |fp16 - reference| bound. fp16 has an 11-bit significand (relative
 * step 2^-11 ≈ 4.9e-4); errors compound through ~20 normalised layers, and what reaches the output
 * is squashed by tanh. 2e-2 is 2.5 grey levels of 8 bits after the [-1, 1] → [0, 255] mapping.
 */
export const FP16_TOLERANCE = 2e-2;

export interface VerifyCase {
  label: string;
  /** NCHW. */
  shape: [number, number, number, number];
  input: Float32Array;
}

export interface CaseResult {
  label: string;
  shape: number[];
  maxAbsDiff: number;
  meanAbsDiff: number;
}

export interface VerifyResult {
  tolerance: number;
  maxAbsDiff: number;
  cases: CaseResult[];
}

export class VerificationError extends Error {}

/** Deterministic uniform [0, 1) numbers, so failures reproduce. */
export function seededRandom(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/**
 * Something shaped like a photo, normalised like the server does it: smooth colour gradients,
 * a few sharp-edged shapes, mild sensor noise, quantised to 8 bits, then (v/255 − 0.5)/0.5.
 */
export function imageLikeSample(c: number, h: number, w: number, rand: () => number): Float32Array {
  const out = new Float32Array(c * h * w);
  const base = Array.from({ length: c }, () => [rand(), rand() - 0.5, rand() - 0.5, 2 + 6 * rand()]);
  const shapes = Array.from({ length: 4 }, () => ({
    cx: rand() * w,
    cy: rand() * h,
    r: (0.1 + 0.25 * rand()) * Math.min(h, w),
    disc: rand() < 0.5,
    colour: Array.from({ length: c }, () => rand()),
  }));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / w;
      const v = y / h;
      for (let ch = 0; ch < c; ch++) {
        const [b, gx, gy, f] = base[ch];
        let val = b + gx * u + gy * v + 0.1 * Math.sin(f * (u + v));
        for (const s of shapes) {
          const inside = s.disc
            ? (x - s.cx) ** 2 + (y - s.cy) ** 2 < s.r ** 2
            : Math.abs(x - s.cx) < s.r && Math.abs(y - s.cy) < s.r * 0.6;
          if (inside) val = 0.3 * val + 0.7 * s.colour[ch];
        }
        val += (rand() - 0.5) * 0.04;
        const byte = Math.round(Math.min(1, Math.max(0, val)) * 255);
        out[(ch * h + y) * w + x] = (byte / 255 - 0.5) / 0.5;
      }
    }
  }
  return out;
}

/**
 * The case where statistics from a bicubic-reduced copy fail (issue #25): smooth colour gradients,
 * scaled per channel by `tint`, plus Gaussian sensor noise of `sigma` grey levels, as 8-bit RGB. A
 * reduction averages the noise away, yet a generator's first layers respond to it. Draws from
 * `rng` (a dataset takes many images from one stream).
 */
export function noisyGradientImage(
  width: number,
  height: number,
  rng: Rng,
  sigma: number,
  tint: readonly number[] = [1, 1, 1],
): RawImage {
  const base = Array.from({ length: 3 }, () => [
    0.2 + 0.6 * rng.next(),
    rng.next() - 0.5,
    rng.next() - 0.5,
    1 + 4 * rng.next(),
    6 * rng.next(),
  ]);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        const [b, gx, gy, f, phase] = base[c];
        const [u, v] = [x / width, y / height];
        const smooth = b + 0.6 * gx * u + 0.6 * gy * v + 0.1 * Math.sin(f * (u + v) + phase);
        const value = smooth * 255 * tint[c] + sigma * rng.normal();
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
  return { data, width, height, channels: 3 };
}

function roundUp(v: number, m: number): number {
  return Math.max(m, Math.ceil(v / m) * m);
}

/** The two checked sizes: the training size, and a non-square one (half the height), both valid multiples. */
export function verificationSizes(trainingSize: number, multiple: number): [number, number][] {
  const side = roundUp(trainingSize, multiple);
  const h = roundUp(side / 2, multiple);
  const w = h === side ? side + multiple : side;
  return [
    [side, side],
    [h, w],
  ];
}

/**
 * One batch of two per size: sample 0 uniform noise in [-1, 1], sample 1 image-like. Batching
 * them also exercises the dynamic batch dimension.
 */
export function verificationCases(channels: number, trainingSize: number, multiple: number, seed = 1): VerifyCase[] {
  const rand = seededRandom(seed);
  return verificationSizes(trainingSize, multiple).map(([h, w]) => {
    const n = channels * h * w;
    const input = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) input[i] = rand() * 2 - 1;
    input.set(imageLikeSample(channels, h, w, rand), n);
    return { label: `random+image-like ${h}x${w}`, shape: [2, channels, h, w], input };
  });
}

/** `model`: graph bytes, or a graph file's path (needed where its weights are external data). */
export async function runOnnx(
  model: Uint8Array | string,
  input: Float32Array,
  shape: readonly number[],
): Promise<OrtTensor> {
  const session = await createSession(model, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ [INPUT_NAME]: float32Tensor(input, shape as number[]) });
    return out[OUTPUT_NAME];
  } finally {
    await session.release();
  }
}

export function compareOutputs(actual: Float32Array, expected: Float32Array): { max: number; mean: number } {
  if (actual.length !== expected.length)
    throw new Error(`compareOutputs: ${actual.length} vs ${expected.length} values`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN compares false everywhere; make it fail loudly instead.
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
    sum += d;
  }
  return { max, mean: sum / actual.length };
}

/** Reference outputs for `cases`, computed once and shared by the fp32 and fp16 checks. */
export async function referenceOutputs(reference: ReferenceFn, cases: VerifyCase[]): Promise<Float32Array[]> {
  const outs: Float32Array[] = [];
  for (const k of cases) outs.push(await reference(k.input, k.shape));
  return outs;
}

/** Runs `model` on every case and throws a VerificationError naming the worst case if over `tolerance`. */
export async function verifyOnnx(
  model: Uint8Array,
  cases: VerifyCase[],
  expected: Float32Array[],
  tolerance: number,
  what = 'ONNX model',
): Promise<VerifyResult> {
  const session = await createSession(model, { executionProviders: ['cpu'] });
  const results: CaseResult[] = [];
  try {
    for (let i = 0; i < cases.length; i++) {
      const k = cases[i];
      const out = (await session.run({ [INPUT_NAME]: float32Tensor(k.input, k.shape) }))[OUTPUT_NAME];
      if (out.data.length !== expected[i].length)
        throw new VerificationError(
          `${what}: verification failed: output [${out.dims}] has ${out.data.length} values, the reference ${expected[i].length} (${k.label})`,
        );
      const { max, mean } = compareOutputs(out.data as Float32Array, expected[i]);
      results.push({ label: k.label, shape: [...out.dims], maxAbsDiff: max, meanAbsDiff: mean });
    }
  } finally {
    await session.release();
  }
  const worst = results.reduce((a, b) => (b.maxAbsDiff > a.maxAbsDiff ? b : a));
  if (!(worst.maxAbsDiff <= tolerance)) {
    throw new VerificationError(
      `${what}: verification failed: max |onnx - reference| = ${worst.maxAbsDiff.toExponential(2)} > ${tolerance} ` +
        `on ${worst.label} (output [${worst.shape}])`,
    );
  }
  return { tolerance, maxAbsDiff: worst.maxAbsDiff, cases: results };
}
