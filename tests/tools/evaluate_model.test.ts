import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSession, float32Tensor } from '../../core/onnx/ortRuntime';
import sharp from 'sharp';
import { psnr } from '../../core/metrics/psnr';
import { ssim } from '../../core/metrics/ssim';
import { parseManifest } from '../../core/modelManifest';
import {
  contactSheetSize,
  evaluateModel,
  PSNR_CAP_DB,
  sampleIds,
  SHEET_GAP,
  SHEET_PAD,
  type EvaluationResult,
} from '../../tools/evaluate_model';
import { noiseImage, writeTinyModel } from '../helpers/tinyModel';

const SIDE = 32; // the tiny model's preferred size: test images need no resizing

/** Raw RGB pixels of an image file. */
async function pixels(file: string): Promise<Buffer> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([SIDE, SIDE, 3]);
  return data;
}

/** The generator on one image, computed directly (own session, own normalisation; no serve/ code). */
async function directTranslation(onnx: string, rgb: Buffer): Promise<Uint8Array> {
  const plane = SIDE * SIDE;
  const x = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) x[c * plane + i] = rgb[i * 3 + c] / 127.5 - 1;
  const session = await createSession(onnx);
  const y = (await session.run({ input: float32Tensor(x, [1, 3, SIDE, SIDE]) })).output.data as Float32Array;
  await session.release();
  const out = new Uint8Array(3 * plane);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < plane; i++)
      out[i * 3 + c] = Math.min(255, Math.max(0, Math.round((y[c * plane + i] + 1) * 127.5)));
  return out;
}

describe('tools/evaluate_model.ts', () => {
  let tmp: string;
  let modelDir: string;
  let dataroot: string;
  let result: EvaluationResult;
  let manifestBefore: Record<string, unknown>;
  const ids = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-evaluate-'));
    await writeTinyModel(tmp, { name: 'tiny', preferredSize: SIDE });
    modelDir = path.join(tmp, 'tiny');
    // A metrics entry from an earlier evaluation on another dataset must survive.
    const file = path.join(modelDir, 'model.json');
    manifestBefore = { ...JSON.parse(await fs.readFile(file, 'utf8')), metrics: { shapes: { psnr: 12.5 } } };
    await fs.writeFile(file, JSON.stringify(manifestBefore));

    dataroot = path.join(tmp, 'pairs');
    for (const d of ['testA', 'testB']) await fs.mkdir(path.join(dataroot, d), { recursive: true });
    for (const [i, id] of ids.entries()) {
      await fs.writeFile(path.join(dataroot, 'testA', `${id}.png`), await noiseImage(SIDE, SIDE, 'png', 100 + i));
      await fs.writeFile(path.join(dataroot, 'testB', `${id}.png`), await noiseImage(SIDE, SIDE, 'png', 200 + i));
    }
    // Unpaired leftovers are ignored.
    await fs.writeFile(path.join(dataroot, 'testA', 'only-in-a.png'), await noiseImage(SIDE, SIDE, 'png', 1));
    result = await evaluateModel({
      model: modelDir,
      dataroot,
      out: path.join(tmp, 'docs'),
      providers: ['cpu'],
      threads: 1,
    });
  });
  afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

  test('reports both directions over the paired images, means of the per-image figures', () => {
    const m = result.metrics;
    expect(m.dataset).toBe('pairs');
    expect(m.size).toEqual({ width: SIDE, height: SIDE });
    expect(Object.keys(m.directions).sort()).toEqual(['AtoB', 'BtoA']);
    for (const d of ['AtoB', 'BtoA'] as const) {
      const dm = m.directions[d]!;
      expect(dm).toEqual({
        from: d === 'AtoB' ? 'testA' : 'testB',
        to: d === 'AtoB' ? 'testB' : 'testA',
        images: ids.length,
        psnr: expect.any(Number),
        ssim: expect.any(Number),
        identity: { psnr: expect.any(Number), ssim: expect.any(Number) },
      });
      const per = result.perImage[d]!;
      expect(per.map((s) => s.id)).toEqual(ids);
      const mean = (k: 'psnr' | 'ssim' | 'identityPsnr' | 'identitySsim') =>
        per.reduce((a, s) => a + Math.min(s[k], PSNR_CAP_DB), 0) / per.length;
      expect(dm.psnr).toBeCloseTo(mean('psnr'), 4);
      expect(dm.ssim).toBeCloseTo(mean('ssim'), 4);
      expect(dm.identity.psnr).toBeCloseTo(mean('identityPsnr'), 4);
      expect(dm.identity.ssim).toBeCloseTo(mean('identitySsim'), 4);
    }
  });

  test("one image's figures equal a direct computation (own ONNX run, core metrics)", async () => {
    const id = ids[2];
    const a = await pixels(path.join(dataroot, 'testA', `${id}.png`));
    const b = await pixels(path.join(dataroot, 'testB', `${id}.png`));
    const fake = await directTranslation(path.join(modelDir, 'AtoB.onnx'), a);
    const got = result.perImage.AtoB!.find((s) => s.id === id)!;
    expect(got.psnr).toBeCloseTo(psnr(fake, b), 10);
    expect(got.ssim).toBeCloseTo(ssim(fake, b, SIDE, SIDE, 3), 10);
    expect(got.identityPsnr).toBeCloseTo(psnr(a, b), 10);
    expect(got.identitySsim).toBeCloseTo(ssim(a, b, SIDE, SIDE, 3), 10);
    const back = await directTranslation(path.join(modelDir, 'BtoA.onnx'), b);
    const gotBack = result.perImage.BtoA!.find((s) => s.id === id)!;
    expect(gotBack.psnr).toBeCloseTo(psnr(back, a), 10);
    expect(gotBack.identityPsnr).toBeCloseTo(psnr(b, a), 10);
  });

  test('model.json gets metrics.<dataset>, stays valid, and keeps everything else', async () => {
    const json = JSON.parse(await fs.readFile(path.join(modelDir, 'model.json'), 'utf8'));
    expect(() => parseManifest(json, 'model.json')).not.toThrow();
    const { metrics, ...rest } = json;
    const { metrics: before, ...restBefore } = manifestBefore;
    expect(rest).toEqual(restBefore);
    expect(metrics.shapes).toEqual((before as Record<string, unknown>).shapes);
    expect(metrics.pairs).toEqual(result.metrics);
    expect((await fs.readdir(modelDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('the contact sheet is blocks of input | output | target rows, one column per sample', async () => {
    expect(result.contactSheet).toBe(path.join(tmp, 'docs', 'tiny-contact-sheet.png'));
    const { data, info } = await sharp(result.contactSheet).raw().toBuffer({ resolveWithObject: true });
    const columns = ids.length; // fewer than 12 test images: all of them
    expect(contactSheetSize(columns, 2, { width: SIDE, height: SIDE })).toEqual({
      width: columns * SIDE + (columns + 1) * SHEET_PAD,
      height: 2 * (3 * SIDE + 4 * SHEET_PAD) + SHEET_GAP,
    });
    expect([info.width, info.height, info.channels]).toEqual([
      columns * SIDE + (columns + 1) * SHEET_PAD,
      2 * (3 * SIDE + 4 * SHEET_PAD) + SHEET_GAP,
      3,
    ]);
    const tile = (block: number, row: number, col: number) => {
      const x0 = SHEET_PAD + col * (SIDE + SHEET_PAD);
      const y0 = block * (3 * SIDE + 4 * SHEET_PAD + SHEET_GAP) + SHEET_PAD + row * (SIDE + SHEET_PAD);
      const out = Buffer.alloc(SIDE * SIDE * 3);
      for (let y = 0; y < SIDE; y++)
        data.copy(out, y * SIDE * 3, ((y0 + y) * info.width + x0) * 3, ((y0 + y) * info.width + x0 + SIDE) * 3);
      return out;
    };
    const order = sampleIds(ids, 12);
    const col = order.indexOf(ids[2]);
    const a = await pixels(path.join(dataroot, 'testA', `${ids[2]}.png`));
    const b = await pixels(path.join(dataroot, 'testB', `${ids[2]}.png`));
    expect(tile(0, 0, col).equals(a)).toBe(true);
    expect(Buffer.from(await directTranslation(path.join(modelDir, 'AtoB.onnx'), a)).equals(tile(0, 1, col))).toBe(
      true,
    );
    expect(tile(0, 2, col).equals(b)).toBe(true);
    expect(tile(1, 0, col).equals(b)).toBe(true);
    expect(tile(1, 2, col).equals(a)).toBe(true);
  });

  test('--samples sets the number of contact sheet columns', async () => {
    const r = await evaluateModel({ model: modelDir, dataroot, out: path.join(tmp, 'three'), threads: 1, samples: 3 });
    const meta = await sharp(r.contactSheet).metadata();
    expect(meta.width).toBe(contactSheetSize(3, 2, { width: SIDE, height: SIDE }).width);
  });

  test('sample choice is deterministic and independent of the other names', () => {
    const many = Array.from({ length: 40 }, (_, i) => `e${i}`);
    const pick = sampleIds(many, 12);
    expect(pick).toHaveLength(12);
    expect(sampleIds([...many].reverse(), 12)).toEqual(pick);
    // More names may displace some picks, never reorder or replace the rest.
    const kept = sampleIds([...many, 'zz1', 'zz2', 'zz3'], 12).filter((id) => many.includes(id));
    expect(kept).toEqual(pick.slice(0, kept.length));
  });

  test('bad inputs are one-line errors', async () => {
    await expect(evaluateModel({ model: path.join(tmp, 'nope'), dataroot })).rejects.toThrow(
      /nope is not a model folder \(no model.json\)/,
    );
    const empty = path.join(tmp, 'empty');
    await fs.mkdir(path.join(empty, 'testA'), { recursive: true });
    await expect(evaluateModel({ model: modelDir, dataroot: empty })).rejects.toThrow(/testB' is missing/);
    await fs.mkdir(path.join(empty, 'testB'));
    await fs.writeFile(path.join(empty, 'testB', 'x.png'), await noiseImage(SIDE, SIDE));
    await expect(evaluateModel({ model: modelDir, dataroot: empty })).rejects.toThrow(/no image name is in both/);
  });
});
