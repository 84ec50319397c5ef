/**
 * Tiled execution benchmark (`npm run bench -- --only tiling`, or `npx tsx bench/tiling.ts`), prints JSON.
 *
 * quality  The bundled (trained) twemoji2noto AtoB generator on a 1024×768 photo-like image
 *          (export/verify.ts imageLikeSample: gradients, shapes, sensor noise, 8-bit), where the
 *          untiled pass fits. For exact statistics, downscaled ones at several working sizes (PIL-
 *          exact bicubic), and naive per-tile normalisation, at two tile sides: PSNR of the 8-bit
 *          output against the untiled one, seam ratio (seam score on the tile borders / the untiled
 *          output's on the same lines; core/metrics/seam.ts) and seconds per megapixel on CPU.
 * textured issue #25's case: a 1024×768 image of smooth gradients plus Gaussian noise (σ 6 grey
 *          levels; export/verify.ts noisyGradientImage, seed 25) through each `--textured_models`
 *          folder's AtoB generator at `--textured_tile`: PSNR against untiled and seconds (statistics
 *          and in all) for untiled, each statistics mode at the default working size, and exact.
 * memory   A random-weight ResNet-9 ngf 64 generator (built by the exporter, never committed)
 *          translating a 6000×4000 JPEG at size=original through inference/model.ts (what the
 *          server and `npm run translate` call), in a child process: idle RSS after loading, peak
 *          RSS (VmHWM) and RSS a few seconds after the request. `--memory_size 3000x2000` runs a
 *          smaller image; `--skip memory` leaves it out (it takes minutes on 2 cores).
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSession } from '../core/onnx/ortRuntime';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { resizeBicubic } from '../core/image/resample';
import type { RawImage } from '../core/image/rawImage';
import { Rng } from '../core/rng';
import { psnr } from '../core/metrics/psnr';
import { seamScore } from '../core/metrics/seam';
import { readManifest } from '../core/modelManifest';
import { imageLikeSample, noisyGradientImage, seededRandom } from '../export/verify';
import { openModel } from '../inference/openModel';
import { fromNchw } from '../inference/postprocess';
import { toNchw } from '../inference/preprocess';
import { ortRunGraph, rawImageSink, rawImageSource } from '../inference/tiling/adapters';
import {
  DEFAULT_TILING,
  parseTileChoice,
  STATS_MODES,
  statsWorkingImage,
  translateTiled,
  workingSize,
  type TiledOptions,
} from '../inference/tiling/tiledTranslate';
import { writeTinyModel } from '../tests/helpers/tinyModel';
import { procMemoryMb } from './processMemory';

const ROOT = path.join(__dirname, '..');
const NORM = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

function photoLike(width: number, height: number, seed: number): RawImage {
  const x = imageLikeSample(3, height, width, seededRandom(seed));
  const plane = width * height;
  const data = new Uint8Array(3 * plane);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < plane; i++) data[i * 3 + c] = Math.round((x[c * plane + i] * 0.5 + 0.5) * 255);
  return { data, width, height, channels: 3 };
}

/** Planar view of an 8-bit HWC image for the seam score. */
function planar(img: RawImage) {
  const plane = img.width * img.height;
  const data = new Float32Array(img.channels * plane);
  for (let c = 0; c < img.channels; c++)
    for (let i = 0; i < plane; i++) data[c * plane + i] = img.data[i * img.channels + c];
  return { data, channels: img.channels, width: img.width, height: img.height };
}

async function quality(tileSides: number[], workingSides: number[]) {
  const dir = path.join(ROOT, 'models', 'twemoji2noto');
  const man = await readManifest(dir);
  const tiling = man.directions.AtoB!.tiling!;
  const open = (f: string) => createSession(path.join(dir, f), { enableCpuMemArena: false });
  const run = ortRunGraph({
    plain: await open('AtoB.onnx'),
    statistics: await open(tiling.statistics!.file),
    apply: await open(tiling.apply!.file),
  });
  const [w, h] = [1024, 768];
  const mp = (w * h) / 1e6;
  const img = photoLike(w, h, 21);
  const input = toNchw(img, NORM);

  let t = performance.now();
  const ref = fromNchw(
    (await run('plain', { input: { type: 'float32', ...input } }, ['output'])).output.data,
    [3, h, w],
    NORM,
  );
  const untiledS = (performance.now() - t) / 1000;
  const refPlanar = planar(ref);

  const rows: Record<string, unknown>[] = [];
  const measure = async (label: string, tileSide: number, o: Partial<TiledOptions>) => {
    const out: RawImage = { data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 };
    t = performance.now();
    const r = await translateTiled(rawImageSource(img, NORM), rawImageSink(out, NORM), run, {
      tiling,
      outputChannels: 3,
      tileSide,
      ...o,
    });
    const s = (performance.now() - t) / 1000;
    const score = (x: ReturnType<typeof planar>) => seamScore(x, r.seams.x, r.seams.y);
    const row = {
      method: label,
      tile_side: tileSide,
      tiles: r.tiles,
      psnr_db: +psnr(out.data, ref.data).toFixed(2),
      seam_ratio: +(score(planar(out)) / score(refPlanar)).toFixed(4),
      s_per_mp: +(s / mp).toFixed(2),
      stats_s: +(r.statsMs / 1000).toFixed(2),
    };
    process.stderr.write(`${JSON.stringify(row)}\n`);
    rows.push(row);
  };
  for (const side of tileSides) {
    await measure('exact', side, { stats: 'exact' });
    for (const ws of workingSides) {
      const scale = ws / Math.max(w, h);
      const small =
        scale < 1 ? resizeBicubic(img, Math.round((w * scale) / 4) * 4, Math.round((h * scale) / 4) * 4) : img;
      await measure(`downscaled ${small.width}x${small.height}`, side, {
        stats: 'downscaled',
        statsInput: toNchw(small, NORM),
      });
    }
    await measure('per-tile normalisation (naive)', side, { tiling: { ...tiling, norm: 'none' }, feather: 0 });
  }
  return {
    model: 'twemoji2noto AtoB (resnet_6blocks, ngf 16, instance norm, trained)',
    image: `${w}x${h} photo-like (imageLikeSample seed 21)`,
    untiled_s_per_mp: +(untiledS / mp).toFixed(2),
    halo: tiling.halo,
    rows,
  };
}

async function textured(modelDirs: string[], tileSide: number) {
  const [w, h] = [1024, 768];
  const img = noisyGradientImage(w, h, new Rng(25), 6);
  const working = workingSize({ width: w, height: h }, DEFAULT_TILING, 4);
  const models = [];
  for (const dir of modelDirs) {
    const man = await readManifest(dir);
    const entry = man.directions.AtoB!;
    const tiling = entry.tiling!;
    const open = (f: string) => createSession(path.join(dir, f), { enableCpuMemArena: false });
    const run = ortRunGraph({
      plain: await open(entry.file),
      statistics: await open(tiling.statistics!.file),
      apply: await open(tiling.apply!.file),
    });
    let t = performance.now();
    const input = toNchw(img, NORM);
    const ref = fromNchw(
      (await run('plain', { input: { type: 'float32', ...input } }, ['output'])).output.data,
      [3, h, w],
      NORM,
    );
    const rows: Record<string, unknown>[] = [{ method: 'untiled', s: +((performance.now() - t) / 1000).toFixed(2) }];
    process.stderr.write(`${path.basename(dir)} ${JSON.stringify(rows[0])}\n`);
    for (const mode of STATS_MODES) {
      const out: RawImage = { data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 };
      t = performance.now();
      // The working image is part of the cost, as in inference/model.ts.
      const small = await statsWorkingImage(img, working, mode, (i, s) => resizeBicubic(i, s.width, s.height));
      const r = await translateTiled(rawImageSource(img, NORM), rawImageSink(out, NORM), run, {
        tiling,
        outputChannels: 3,
        tileSide,
        stats: mode,
        statsInput: toNchw(small, NORM),
      });
      const row = {
        method: mode,
        psnr_db: +psnr(out.data, ref.data).toFixed(2),
        s: +((performance.now() - t) / 1000).toFixed(2),
        stats_s: +(r.statsMs / 1000).toFixed(2),
        tiles: r.tiles,
      };
      process.stderr.write(`${path.basename(dir)} ${JSON.stringify(row)}\n`);
      rows.push(row);
    }
    models.push({ model: `${dir} AtoB (${JSON.stringify(man.architecture)})`, rows });
  }
  return {
    image: `${w}x${h} noisyGradientImage seed 25, sigma 6`,
    working_size: `${working.width}x${working.height}`,
    tile_side: tileSide,
    models,
  };
}

/** Runs in the child: one size=original translation with RSS sampled throughout. */
async function memoryChild(modelDir: string, imageFile: string, tile: string) {
  const rss = () => procMemoryMb('self', 'VmRSS');
  const hwm = () => procMemoryMb('self', 'VmHWM');
  const model = await openModel(modelDir, {
    providers: ['cpu'],
    maxBatch: 1,
    batchDelayMs: 0,
    maxQueue: 4,
    // Room for tile=off comparisons; tiled runs are bounded by the input limit anyway.
    limits: { maxPixels: 100_000_000 },
    directions: ['AtoB'],
  });
  const bytes = await fs.readFile(imageFile);
  global.gc?.();
  const idle = rss();
  let peak = idle;
  const timer = setInterval(() => (peak = Math.max(peak, rss())), 100);
  const t = performance.now();
  const r = await model.translate(bytes, {
    direction: 'AtoB',
    size: { kind: 'original' },
    fit: 'original',
    format: 'jpeg',
    tile: parseTileChoice(tile),
  });
  const seconds = (performance.now() - t) / 1000;
  clearInterval(timer);
  const out = await sharp(r.bytes).metadata();
  global.gc?.();
  await new Promise((res) => setTimeout(res, 3000));
  global.gc?.();
  const after = rss();
  await model.close();
  return {
    output: `${out.width}x${out.height}`,
    tiles: r.tiles,
    seconds: +seconds.toFixed(1),
    s_per_mp: +(seconds / ((out.width! * out.height!) / 1e6)).toFixed(2),
    rss_idle_mb: Math.round(idle),
    rss_peak_mb: Math.round(Math.max(peak, hwm())),
    rss_after_mb: Math.round(after),
  };
}

async function memory(size: string) {
  const [w, h] = size.split('x').map(Number);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-tiling-'));
  try {
    await writeTinyModel(root, {
      name: 'r9ngf64',
      ngf: 64,
      nBlocks: 9,
      directions: ['AtoB'],
      tiling: true,
      preferredSize: 256,
    });
    const img = photoLike(Math.min(w, 1500), Math.min(h, 1000), 5);
    // A large JPEG without holding a large float image here: the sample, enlarged by sharp.
    const file = path.join(root, 'big.jpg');
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
      .resize(w, h, { kernel: 'cubic' })
      .jpeg({ quality: 90 })
      .toFile(file);
    const r = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        __filename,
        '--child_model',
        path.join(root, 'r9ngf64'),
        '--child_image',
        file,
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        // glibc returns large freed blocks only above its mmap threshold; pinned as for the server.
        env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' },
      },
    );
    if (r.status !== 0) return { error: `child exited with ${r.status}` };
    return {
      model: 'resnet_9blocks ngf 64, random weights',
      image: `${w}x${h} JPEG, size=original`,
      ...JSON.parse(r.stdout),
    };
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

const schema = z
  .object({
    skip: field.text().optional().describe('comma-separated parts to skip: quality, textured, memory'),
    textured_models: field
      .text()
      .default(path.join('models', 'twemoji2noto'))
      .describe('comma-separated model folders for the textured figures (their AtoB generator)'),
    textured_tile: field.int(1).default(256).describe('tile side for the textured figures'),
    tile_sides: field.intList(1).default([384, 640]).describe('tile sides for the quality figures'),
    working_sides: field
      .intList(1)
      .default([512, 768, 1024])
      .describe('long sides of the downscaled-statistics working sizes'),
    memory_size: field.text().default('6000x4000').describe('image size (WxH) for the memory figure'),
    child_model: field
      .text()
      .optional()
      .describe('internal: run the memory measurement in this process on this model folder'),
    child_image: field.text().optional().describe('internal: the image for --child_model'),
    child_tile: field.text().default('auto').describe('internal: the tile choice for --child_model'),
  })
  .strict();

async function main(o: z.output<typeof schema>) {
  if (o.child_model) {
    if (!o.child_image) throw new Error('--child_model needs --child_image');
    const result = JSON.stringify(await memoryChild(o.child_model, o.child_image, o.child_tile));
    // The resampling pool's threads would keep the process alive.
    process.stdout.write(`${result}\n`, () => process.exit(0));
    return;
  }
  const skip = new Set((o.skip ?? '').split(',').filter(Boolean));
  const out: Record<string, unknown> = {};
  if (!skip.has('quality')) out.quality = await quality(o.tile_sides, o.working_sides);
  if (!skip.has('textured')) out.textured = await textured(o.textured_models.split(','), o.textured_tile);
  if (!skip.has('memory')) out.memory = await memory(o.memory_size);
  console.log(JSON.stringify(out, null, 2));
}

runCommand(
  {
    name: 'bench/tiling',
    program: 'node --import tsx bench/tiling.ts',
    summary:
      'Tiled execution: quality (PSNR and seam score vs untiled, per statistics mode) and memory (peak RSS of a ' +
      'size=original translation); prints JSON.',
    schema,
    placeholders: {
      skip: '<parts>',
      textured_models: '<dirs>',
      textured_tile: '<px>',
      tile_sides: '<list>',
      working_sides: '<list>',
      memory_size: '<WxH>',
      child_model: '<dir>',
      child_image: '<file>',
      child_tile: '<tile>',
    },
  },
  main,
);
