/**
 * Held-out quality of an exported model on a dataset whose test folders are paired by file name
 * (testA/x.png and testB/x.png show the same item in the two domains, as datasets/twemoji2noto):
 *
 *   npx tsx tools/evaluate_model.ts --model models/NAME --dataroot datasets/twemoji2noto [--out docs/] [--samples 16]
 *
 * For each direction the model has, every test image is translated exactly as POST /translate
 * does it (inference/model.ts: worker-thread onnxruntime session, batcher, preprocess and
 * postprocess) at the model's native size, and compared with the other domain's image of the same
 * item by PSNR and SSIM (core/metrics, scikit-image's definitions). The identity baseline compares
 * the input itself with that image: a model is only useful where it beats it. The means go into
 * the manifest's `metrics.<dataset>` (model.json rewritten atomically, everything else kept), the
 * summary is printed as JSON, and a contact sheet is written to --out (default: the model folder).
 *
 * Contact sheet: one block per direction (AtoB above BtoA), each three rows — input, model output,
 * the other domain's image — and one column per sample (up to --samples, default 12, chosen by a hash of the file
 * name so the same items appear whatever the folder holds besides).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import sharp from 'sharp';
import { z } from 'zod';
import { writeFileAtomic } from '../core/io/atomicWrite';
import { psnr } from '../core/metrics/psnr';
import { ssim } from '../core/metrics/ssim';
import { MANIFEST_FILE, parseManifest, readManifest, type Direction } from '../core/modelManifest';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import type { Model } from '../inference/model';
import { directionChannels } from '../inference/modelFiles';
import { openModel } from '../inference/openModel';
import { decodeImage, resizeRaw } from '../inference/preprocess';
import { EXECUTION_PROVIDERS, type ExecutionProviderName } from '../core/onnx/ortRuntime';
import { listImages } from '../train/data/imageFolder';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';

/** Identical images have infinite PSNR; means cap each image at this so one exact match stays finite. */
export const PSNR_CAP_DB = 100;
export const CONTACT_SAMPLES = 12;
/** Grid lines between tiles and the gap between the two direction blocks, in pixels. */
export const SHEET_PAD = 2;
export const SHEET_GAP = 8;
const SHEET_LINE = 192;
const MAX_PIXELS = 4096 * 4096;

const SIDES: Record<Direction, { from: 'testA' | 'testB'; to: 'testA' | 'testB' }> = {
  AtoB: { from: 'testA', to: 'testB' },
  BtoA: { from: 'testB', to: 'testA' },
};

export interface ImageScores {
  id: string;
  psnr: number;
  ssim: number;
  identityPsnr: number;
  identitySsim: number;
}

export interface DirectionMetrics {
  from: string;
  to: string;
  images: number;
  /** Means over images of G(input) vs. the other domain's image. */
  psnr: number;
  ssim: number;
  /** The same with the untranslated input in place of G(input). */
  identity: { psnr: number; ssim: number };
}

/** What goes into model.json under `metrics.<dataset>`. */
export interface DatasetMetrics {
  dataset: string;
  evaluatedAt: string;
  size: ImageSize;
  method: string;
  directions: Partial<Record<Direction, DirectionMetrics>>;
}

export interface EvaluationResult {
  model: string;
  manifest: string;
  contactSheet: string;
  metrics: DatasetMetrics;
  perImage: Partial<Record<Direction, ImageScores[]>>;
}

export interface EvaluateOptions {
  model: string;
  dataroot: string;
  /** Contact sheet folder; default the model folder. */
  out?: string;
  providers?: ExecutionProviderName[];
  /** onnxruntime intra-op threads; 0: onnxruntime's choice. */
  threads?: number;
  /** Contact sheet columns (default CONTACT_SAMPLES). */
  samples?: number;
  logger?: Logger;
}

/** The test items present in both folders, keyed by path relative to the folder without extension. */
export async function pairedTestImages(
  dataroot: string,
): Promise<{ ids: string[]; files: Record<'testA' | 'testB', Map<string, string>>; unmatched: number }> {
  const files = { testA: new Map<string, string>(), testB: new Map<string, string>() };
  for (const side of ['testA', 'testB'] as const) {
    const dir = path.join(dataroot, side);
    if (!(await fs.stat(dir).catch(() => null))?.isDirectory())
      throw new Error(`'${dir}' is missing: --dataroot needs testA and testB with images of the same items`);
    for (const f of await listImages(dir)) {
      const rel = path.relative(dir, f);
      const id = rel
        .slice(0, rel.length - path.extname(rel).length)
        .split(path.sep)
        .join('/');
      if (files[side].has(id)) throw new Error(`'${dir}' holds two images named ${id} (different extensions)`);
      files[side].set(id, f);
    }
  }
  const ids = [...files.testA.keys()].filter((id) => files.testB.has(id)).sort();
  if (ids.length === 0)
    throw new Error(`no image name is in both ${path.join(dataroot, 'testA')} and testB: nothing to compare`);
  const unmatched = files.testA.size + files.testB.size - 2 * ids.length;
  return { ids, files, unmatched };
}

/** `n` ids chosen by hash order: stable, and spread over the alphabet rather than its start. */
export function sampleIds(ids: readonly string[], n: number): string[] {
  const key = (id: string) => createHash('sha256').update(id).digest('hex');
  return [...ids]
    .map((id) => ({ id, k: key(id) }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .slice(0, n)
    .map((x) => x.id);
}

/** Pixel size of a sheet of `blocks` blocks of 3 rows × `columns` tiles of `tile` pixels. */
export function contactSheetSize(columns: number, blocks: number, tile: ImageSize): ImageSize {
  const blockHeight = 3 * tile.height + 4 * SHEET_PAD;
  return {
    width: columns * tile.width + (columns + 1) * SHEET_PAD,
    height: blocks * blockHeight + (blocks - 1) * SHEET_GAP,
  };
}

function toRgb(img: RawImage): Buffer {
  if (img.channels === 3) return Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length);
  const out = Buffer.allocUnsafe(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) out.fill(img.data[i], i * 3, i * 3 + 3);
  return out;
}

/** Draws the sheet: blocks[b][row][column] are tiles of equal size (rows: input, output, target). */
export async function renderContactSheet(blocks: RawImage[][][], tile: ImageSize): Promise<Buffer> {
  const columns = blocks[0][0].length;
  const size = contactSheetSize(columns, blocks.length, tile);
  const canvas = Buffer.alloc(size.width * size.height * 3, 255);
  const blockHeight = 3 * tile.height + 4 * SHEET_PAD;
  blocks.forEach((rows, b) => {
    const top = b * (blockHeight + SHEET_GAP);
    // Grid lines: the block's whole area in grey, tiles drawn over it.
    for (let y = top; y < top + blockHeight; y++) canvas.fill(SHEET_LINE, y * size.width * 3, (y + 1) * size.width * 3);
    rows.forEach((row, r) =>
      row.forEach((img, c) => {
        if (img.width !== tile.width || img.height !== tile.height)
          throw new Error(`contact sheet tile is ${img.width}x${img.height}, expected ${tile.width}x${tile.height}`);
        const rgb = toRgb(img);
        const x0 = SHEET_PAD + c * (tile.width + SHEET_PAD);
        const y0 = top + SHEET_PAD + r * (tile.height + SHEET_PAD);
        for (let y = 0; y < tile.height; y++)
          rgb.copy(canvas, ((y0 + y) * size.width + x0) * 3, y * tile.width * 3, (y + 1) * tile.width * 3);
      }),
    );
  });
  return sharp(canvas, { raw: { width: size.width, height: size.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** Decoded (alpha onto white, like the server) and resized to the processing size. */
async function loadAt(file: string, channels: 1 | 3, size: ImageSize): Promise<RawImage> {
  try {
    return await resizeRaw(await decodeImage(await fs.readFile(file), channels, MAX_PIXELS), size);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** One image through the server's path: preprocess, the model's batcher (worker session), postprocess. */
async function translateFile(model: Model, direction: Direction, file: string): Promise<RawImage> {
  try {
    return (await model.run(await fs.readFile(file), { direction, size: { kind: 'native' } })).output;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Reads model.json, sets `metrics[key]` (other metrics and fields kept), validates, writes atomically. */
export async function writeManifestMetrics(dir: string, key: string, value: DatasetMetrics): Promise<string> {
  const file = path.join(dir, MANIFEST_FILE);
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  const old = json.metrics;
  const metrics = old && typeof old === 'object' && !Array.isArray(old) ? (old as Record<string, unknown>) : {};
  json.metrics = { ...metrics, [key]: value };
  parseManifest(json, file);
  await writeFileAtomic(file, JSON.stringify(json, null, 2) + '\n');
  return file;
}

export async function evaluateModel(o: EvaluateOptions): Promise<EvaluationResult> {
  const dir = path.resolve(o.model);
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const manifest = await readManifest(dir, manifestFile);
  const dataroot = path.resolve(o.dataroot);
  const { ids, files, unmatched } = await pairedTestImages(dataroot);
  const log = o.logger ?? pino({ level: 'silent' });
  if (unmatched > 0) log.warn(`${unmatched} test image(s) have no counterpart of the same name in the other folder`);

  const model = await openModel(dir, {
    providers: o.providers ?? ['cpu'],
    session: { intraOpThreads: o.threads ?? 0 },
    // One image per run: the figures then cannot depend on how requests happened to batch.
    maxBatch: 1,
    batchDelayMs: 0,
    maxQueue: 64,
    limits: { maxPixels: MAX_PIXELS },
  });
  for (const s of model.skipped) log.warn(`execution provider '${s.provider}' unavailable, skipped: ${s.reason}`);
  const side = Math.max(
    manifest.sizeMultiple,
    Math.round(manifest.preferredSize / manifest.sizeMultiple) * manifest.sizeMultiple,
  );
  const size = { width: side, height: side };
  const samples = new Set(sampleIds(ids, o.samples ?? CONTACT_SAMPLES));
  const sampleOrder = [...samples];
  const blocks: RawImage[][][] = [];
  const perImage: EvaluationResult['perImage'] = {};
  const directions: DatasetMetrics['directions'] = {};
  try {
    for (const d of model.directions) {
      const { from, to } = SIDES[d];
      const outC = directionChannels(manifest, d).out;
      const scores: ImageScores[] = new Array(ids.length);
      const tiles = new Map<string, RawImage[]>();
      let next = 0;
      // A few images in flight so decoding overlaps inference on the worker thread.
      const worker = async () => {
        while (next < ids.length) {
          const i = next++;
          const id = ids[i];
          const [output, target, input] = await Promise.all([
            translateFile(model, d, files[from].get(id)!),
            loadAt(files[to].get(id)!, outC, size),
            loadAt(files[from].get(id)!, outC, size),
          ]);
          if (output.width !== side || output.height !== side || output.channels !== outC)
            throw new Error(
              `${d} output is ${output.width}x${output.height}x${output.channels}, expected ${side}x${side}x${outC}`,
            );
          const s = (x: RawImage) => ssim(x.data, target.data, side, side, outC);
          scores[i] = {
            id,
            psnr: psnr(output.data, target.data),
            ssim: s(output),
            identityPsnr: psnr(input.data, target.data),
            identitySsim: s(input),
          };
          if (samples.has(id)) tiles.set(id, [input, output, target]);
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
      const capped = (x: number) => Math.min(x, PSNR_CAP_DB);
      perImage[d] = scores;
      directions[d] = {
        from,
        to,
        images: scores.length,
        psnr: round(mean(scores.map((s) => capped(s.psnr)))),
        ssim: round(mean(scores.map((s) => s.ssim))),
        identity: {
          psnr: round(mean(scores.map((s) => capped(s.identityPsnr)))),
          ssim: round(mean(scores.map((s) => s.identitySsim))),
        },
      };
      blocks.push([0, 1, 2].map((row) => sampleOrder.map((id) => tiles.get(id)![row])));
    }
  } finally {
    await model.close();
  }

  const dataset = path.basename(dataroot);
  const metrics: DatasetMetrics = {
    dataset,
    evaluatedAt: new Date().toISOString(),
    size,
    method:
      `mean over the paired test images of PSNR (dB, capped at ${PSNR_CAP_DB}) and SSIM (11x11 Gaussian, sigma 1.5) ` +
      'of the translated image vs. the other domain image of the same name, at the model native size; ' +
      'identity: the untranslated input in place of the translation',
    directions,
  };
  const outDir = path.resolve(o.out ?? dir);
  await fs.mkdir(outDir, { recursive: true });
  const contactSheet = path.join(outDir, `${manifest.name}-contact-sheet.png`);
  await writeFileAtomic(contactSheet, await renderContactSheet(blocks, size));
  await writeManifestMetrics(dir, dataset, metrics);
  return { model: manifest.name, manifest: manifestFile, contactSheet, metrics, perImage };
}

const evaluateOptionsSchema = z
  .object({
    model: field.text().describe('model folder (model.json + ONNX files), e.g. models/NAME'),
    dataroot: field
      .text()
      .describe('dataset with testA and testB holding images of the same items under the same names'),
    out: field.text().optional().describe('folder for the contact sheet (default: the model folder)'),
    providers: field
      .list(EXECUTION_PROVIDERS)
      .default(['cpu'])
      .describe('onnxruntime execution providers to try in order, comma-separated'),
    threads: field.int(0).default(0).describe("onnxruntime intra-op threads (0: onnxruntime's choice)"),
    samples: field.int(1).default(CONTACT_SAMPLES).describe('test items (columns) on the contact sheet'),
  })
  .strict();

if (require.main === module) {
  runCommand(
    {
      name: 'evaluate_model',
      program: 'npx tsx tools/evaluate_model.ts',
      summary:
        'PSNR/SSIM of a model folder on DATAROOT/testA <-> testB (paired by file name), beside the identity ' +
        'baseline; written into model.json metrics, with a contact sheet.',
      schema: evaluateOptionsSchema,
      placeholders: { model: '<dir>', dataroot: '<dir>', out: '<dir>', providers: '<list>' },
    },
    async (opts) => {
      const r = await evaluateModel({ ...opts, logger: pino({ level: 'warn' }, pino.destination(2)) });
      const { model, manifest, contactSheet, metrics } = r;
      process.stdout.write(`${JSON.stringify({ model, manifest, contactSheet, metrics }, null, 2)}\n`);
    },
  );
}
