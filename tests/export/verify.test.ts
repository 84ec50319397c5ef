/** The verifier: its inputs, its tolerance as the real pass/fail boundary, and a pluggable reference. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NetworkSpec } from '../../core/arch/spec';
import type { StateDict } from '../../core/arch/stateDict';
import { exportCheckpoint } from '../../export/exportModel';
import { referenceGenerator, type ReferenceFn } from '../../export/referenceForward';
import { FP32_TOLERANCE, VerificationError, verificationCases, verificationSizes } from '../../export/verify';
import { tinyOptions, writeCheckpoint } from '../helpers/exportFixtures';

let tmp: string;
let ckpt: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-verify-'));
  ckpt = await writeCheckpoint(path.join(tmp, 'checkpoints'), 'run', 'latest', tinyOptions(), 4);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('verification inputs', () => {
  test('training size and a non-square size, both valid multiples', () => {
    expect(verificationSizes(256, 4)).toEqual([
      [256, 256],
      [128, 256],
    ]);
    expect(verificationSizes(250, 4)).toEqual([
      [252, 252],
      [128, 252],
    ]);
    // U-Net 256 needs multiples of 256: the non-square size grows instead.
    expect(verificationSizes(256, 256)).toEqual([
      [256, 256],
      [256, 512],
    ]);
  });

  test('each size is a batch of uniform noise and an 8-bit image-like sample, reproducibly', () => {
    const cases = verificationCases(3, 32, 4);
    expect(cases.map((c) => c.shape)).toEqual([
      [2, 3, 32, 32],
      [2, 3, 16, 32],
    ]);
    for (const c of cases) {
      const n = c.input.length / 2;
      const noise = c.input.subarray(0, n);
      const image = c.input.subarray(n);
      expect(Math.min(...noise)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...noise)).toBeLessThanOrEqual(1);
      // Image-like: exactly the 256 levels the server's (v/255 - 0.5)/0.5 produces, and far from flat.
      const levels = new Set([...image].map((v) => Math.round(((v + 1) / 2) * 255)));
      for (const v of image) expect(Math.abs(((v + 1) / 2) * 255 - Math.round(((v + 1) / 2) * 255))).toBeLessThan(1e-3);
      expect(levels.size).toBeGreaterThan(50);
      // Neighbouring pixels are correlated in images, not in noise.
      const corr = (a: Float32Array): number => {
        let s = 0;
        for (let i = 1; i < a.length; i++) s += Math.abs(a[i] - a[i - 1]);
        return s / (a.length - 1);
      };
      expect(corr(image)).toBeLessThan(corr(noise) / 4);
    }
    expect(verificationCases(3, 32, 4)[1].input).toEqual(cases[1].input);
    expect(verificationCases(3, 32, 4, 2)[1].input).not.toEqual(cases[1].input);
  });
});

describe('export verification', () => {
  /** The true reference, shifted by `offset`: a stand-in for an implementation that disagrees. */
  const shifted =
    (offset: number, seen: NetworkSpec[] = []) =>
    (spec: NetworkSpec, weights: StateDict): ReferenceFn => {
      seen.push(spec);
      const ref = referenceGenerator(spec, weights);
      return async (input, shape) => (await ref(input, shape)).map((v) => v + offset);
    };

  test('a reference the graph disagrees with by more than 1e-4 fails the export, and nothing is written', async () => {
    const out = path.join(tmp, 'models', 'off');
    const err = await exportCheckpoint(ckpt, { out, reference: shifted(2 * FP32_TOLERANCE) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toMatch(
      /^run epoch 3 AtoB\.onnx: verification failed: max \|onnx - reference\| = 2\.0\de-4 > 0\.0001 on random\+image-like (32|16)x32 \(output \[2,3,(32|16),32\]\)$/,
    );
    await expect(fs.stat(out)).rejects.toThrow('ENOENT');
    expect(await fs.readdir(path.join(tmp, 'models'))).toEqual([]);
  });

  test('within the tolerance it passes; the reference factory sees both generators', async () => {
    const seen: NetworkSpec[] = [];
    const out = path.join(tmp, 'models', 'close');
    const r = await exportCheckpoint(ckpt, { out, reference: shifted(0.5 * FP32_TOLERANCE, seen) });
    expect(r.verification.AtoB!.fp32.maxAbsDiff).toBeGreaterThan(0.4 * FP32_TOLERANCE);
    expect(r.verification.AtoB!.fp32.maxAbsDiff).toBeLessThanOrEqual(FP32_TOLERANCE);
    expect(r.verification.AtoB!.fp32.cases.map((c) => c.shape)).toEqual([
      [2, 3, 32, 32],
      [2, 3, 16, 32],
    ]);
    expect(seen).toHaveLength(2);
    expect(r.manifest.verification).toMatchObject({ maxAbsDiff: { AtoB: { fp32: expect.any(Number) } } });
  });

  test('--fp16 fails when half precision overflows, says so, and writes nothing', async () => {
    // Instance norm makes the first conv's scale irrelevant in float32, but weights ×1e8 overflow float16
    // (max 65504). (onnxruntime's CPU provider computes float16 graphs in float32, so overflowing
    // weights, not activations, are what the CPU check can catch.)
    const { readTensorFile, writeTensorFile } = await import('../../core/io/tensorFile');
    const file = path.join(tmp, 'checkpoints', 'huge', 'latest.ckpt');
    await fs.mkdir(path.dirname(file), { recursive: true });
    const t = await readTensorFile(ckpt);
    const w = t.tensors.get('net.G_A.model.1.weight')!;
    t.tensors.set('net.G_A.model.1.weight', { shape: w.shape, data: w.data.map((v) => v * 1e8) });
    await writeTensorFile(file, t.meta, t.tensors);

    const out = path.join(tmp, 'models', 'huge');
    // float32 alone is fine...
    const ok = await exportCheckpoint(file, { out });
    expect(ok.verification.AtoB!.fp32.maxAbsDiff).toBeLessThanOrEqual(FP32_TOLERANCE);
    await fs.rm(out, { recursive: true });
    // ...but not the half-precision copy.
    const err = await exportCheckpoint(file, { out, fp16: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toMatch(
      /^huge epoch 3 AtoB\.fp16\.onnx: verification failed: max \|onnx - reference\| = Infinity > 0\.02 .*; half precision is too coarse for this model, export without --fp16$/,
    );
    await expect(fs.stat(out)).rejects.toThrow('ENOENT');
  });
});
