/**
 * Tiled execution against the untiled generator, with the exporter's graphs in onnxruntime-node:
 * exact statistics reproduce the untiled output, shared statistics leave no seams, and per-tile
 * normalisation (what naive tiling does) does not pass the same checks.
 */
import * as path from 'node:path';
import { createSession, type OrtSession } from '../../../core/onnx/ortRuntime';
import { generatorSpec, type GeneratorOptions } from '../../../core/arch/spec';
import { tileGeometry } from '../../../core/arch/tileGeometry';
import { seamScore } from '../../../core/metrics/seam';
import { readManifest, type TilingManifest } from '../../../core/modelManifest';
import { buildGeneratorOnnx } from '../../../export/onnxBuilder';
import { imageLikeSample, noisyGradientImage, seededRandom } from '../../../export/verify';
import { resizeBicubic } from '../../../core/image/resample';
import { Rng } from '../../../core/rng';
import { psnr } from '../../../core/metrics/psnr';
import { fromNchw } from '../../../inference/postprocess';
import { toNchw } from '../../../inference/preprocess';
import { ortRunGraph, tensorSink, tensorSource } from '../../../inference/tiling/adapters';
import {
  DEFAULT_TILING,
  statsWorkingImage,
  translateTiled,
  workingSize,
  type StatsMode,
  type Tensor,
  type RunGraph,
  type TiledOptions,
  type TilingGraph,
} from '../../../inference/tiling/tiledTranslate';
import { randomWeights } from '../../helpers/exportFixtures';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

async function generator(o: Partial<GeneratorOptions>, seed = 3) {
  const spec = generatorSpec({
    netG: 'resnet_2blocks',
    inputNc: 3,
    outputNc: 3,
    ngf: 8,
    norm: 'instance',
    useDropout: false,
    ...o,
  });
  const weights = randomWeights(spec, seed);
  const geo = tileGeometry(spec);
  const tiling: TilingManifest = { halo: geo.halo, multiple: geo.multiple, norm: geo.norm, layers: geo.normLayers };
  const sessions: Partial<Record<TilingGraph, OrtSession>> = {
    plain: await createSession(buildGeneratorOnnx(spec, weights)),
  };
  if (geo.norm === 'instance')
    for (const variant of ['statistics', 'apply'] as const)
      sessions[variant] = await createSession(buildGeneratorOnnx(spec, weights, { variant }));
  return { tiling, sessions, run: ortRunGraph(sessions) };
}

function image(h: number, w: number, seed = 5): Tensor {
  return { data: imageLikeSample(3, h, w, seededRandom(seed)), dims: [1, 3, h, w] };
}

async function untiled(g: { run: RunGraph }, x: Tensor): Promise<Tensor> {
  return (await g.run('plain', { input: { type: 'float32', ...x } }, ['output'])).output;
}

async function tiled(g: { run: RunGraph; tiling: TilingManifest }, x: Tensor, o: Partial<TiledOptions>) {
  const [, , h, w] = x.dims;
  const out = tensorSink(3, w, h);
  const r = await translateTiled(tensorSource(x), out.sink, g.run, {
    tiling: g.tiling,
    outputChannels: 3,
    tileSide: 0,
    ...o,
  });
  return { ...r, out: out.tensor };
}

function maxDiff(a: Tensor, b: Tensor): number {
  expect(a.dims).toEqual(b.dims);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

describe('tiled translation', () => {
  let g: Awaited<ReturnType<typeof generator>>;
  beforeAll(async () => {
    g = await generator({});
  });

  test('exact statistics: small tiles equal the untiled output within 1e-4', async () => {
    const x = image(120, 160);
    const ref = await untiled(g, x);
    const side = 2 * (g.tiling.halo + 8) + 24; // cores of 24 px: 7×5 tiles
    const r = await tiled(g, x, { tileSide: side, stats: 'exact' });
    expect(r.tiles).toBeGreaterThan(4 * (g.tiling.layers.length + 1));
    expect(maxDiff(r.out, ref)).toBeLessThan(1e-4);
    // With the downscaled image's estimates as centres too.
    const centred = await tiled(g, x, { tileSide: side, stats: 'exact', statsInput: x });
    expect(maxDiff(centred.out, ref)).toBeLessThan(1e-4);
  });

  test('statistics of the whole image (working size = image size) equal the untiled output within 1e-4', async () => {
    const x = image(96, 128, 6);
    const r = await tiled(g, x, { tileSide: 2 * (g.tiling.halo + 8) + 32, stats: 'downscaled', statsInput: x });
    expect(maxDiff(r.out, await untiled(g, x))).toBeLessThan(1e-4);
  });

  test('per-tile normalisation (naive tiling) does not', async () => {
    const x = image(96, 128, 6);
    const naive = await tiled(g, x, { tiling: { ...g.tiling, norm: 'none' }, tileSide: 2 * (g.tiling.halo + 8) + 32 });
    expect(maxDiff(naive.out, await untiled(g, x))).toBeGreaterThan(0.05);
  });

  test('too small a tile is refused with the size needed', async () => {
    await expect(tiled(g, image(64, 64), { tileSide: 40, stats: 'exact' })).rejects.toThrow(
      /tiles need at least \d+ px/,
    );
  });

  test('batch-norm and no-norm generators tile the plain graph without pass 1', async () => {
    for (const norm of ['batch', 'none'] as const) {
      const gb = await generator({ norm });
      expect(gb.tiling.layers).toHaveLength(0);
      const x = image(80, 112, 7);
      const r = await tiled(gb, x, { tileSide: 2 * (gb.tiling.halo + 8) + 24 });
      expect(r.statsMs).toBeLessThan(5);
      expect(maxDiff(r.out, await untiled(gb, x))).toBeLessThan(1e-4);
    }
  });

  test('noisy image: the default statistics (point-subsampled image) stay above 35 dB PSNR from untiled; a bicubic reduction does not', async () => {
    const [w, h] = [256, 192];
    const img = noisyGradientImage(w, h, new Rng(25), 6);
    const x = toNchw(img, NORM);
    const ref = fromNchw((await untiled(g, x)).data, [3, h, w], NORM);
    // 184×136: the reduction the defaults apply to the 1024×768 image (736×552 under TILE_PIXELS).
    const working = workingSize({ width: w, height: h }, { ...DEFAULT_TILING, statsSide: 184 }, g.tiling.multiple);
    expect(working).toEqual({ width: 184, height: 136 });
    const db = async (mode: StatsMode) => {
      const small = await statsWorkingImage(img, working, mode, (i, s) => resizeBicubic(i, s.width, s.height));
      const r = await tiled(g, x, {
        tileSide: 2 * (g.tiling.halo + 8) + 32,
        stats: mode,
        statsInput: toNchw(small, NORM),
      });
      return psnr(fromNchw(r.out.data, [3, h, w], NORM).data, ref.data);
    };
    // The floor is the target working-size statistics were chosen against (bench/README.md); random
    // weights are harsher than a trained generator (bench/tiling.ts measures one at 1024×768).
    expect(await db(DEFAULT_TILING.stats)).toBeGreaterThan(35);
    expect(await db('downscaled')).toBeLessThan(35);
  });

  test('seams (bundled trained model): downscaled statistics stay within 1.1 of the untiled seam score; per-tile ones do not', async () => {
    const dir = path.join(__dirname, '..', '..', '..', 'models', 'twemoji2noto');
    const man = await readManifest(dir);
    const t = man.directions.AtoB!.tiling!;
    const open = (f: string) => createSession(path.join(dir, f));
    const gl = {
      tiling: t,
      run: ortRunGraph({
        plain: await open('AtoB.onnx'),
        statistics: await open(t.statistics!.file),
        apply: await open(t.apply!.file),
      }),
    };
    const [h, w] = [384, 512];
    const x = image(h, w, 8);
    const ref = await untiled(gl, x);
    const side = 2 * (t.halo + 8) + 128;
    const shared = await tiled(gl, x, { tileSide: side, stats: 'downscaled', statsInput: downscale(x, 2) });
    const naive = await tiled(gl, x, { tiling: { ...t, norm: 'none' }, tileSide: side, feather: 0 });
    // Score on the lines where tiles meet (naive tiles cut there, unblended).
    const score = (o: Tensor, seams: { x: number[]; y: number[] }) =>
      seamScore({ data: o.data, channels: 3, width: w, height: h }, seams.x, seams.y);
    expect(shared.seams.x.length).toBeGreaterThan(2);
    console.log(
      score(shared.out, shared.seams) / score(ref, shared.seams),
      score(naive.out, naive.seams) / score(ref, naive.seams),
    );
    expect(score(shared.out, shared.seams) / score(ref, shared.seams)).toBeLessThan(1.1);
    expect(score(naive.out, naive.seams) / score(ref, naive.seams)).toBeGreaterThan(1.1);
  });
});

/** 2×2 box average (the real server resizes 8-bit images PIL-exactly; any fair downscale will do here). */
function downscale(x: Tensor, f: number): Tensor {
  const [, c, h, w] = x.dims;
  const [oh, ow] = [h / f, w / f];
  const out = new Float32Array(c * oh * ow);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++) {
        let s = 0;
        for (let dy = 0; dy < f; dy++)
          for (let dx = 0; dx < f; dx++) s += x.data[(ch * h + y * f + dy) * w + xx * f + dx];
        out[(ch * oh + y) * ow + xx] = s / (f * f);
      }
  return { data: out, dims: [1, c, oh, ow] };
}
