/**
 * Tiled generator execution with shared instance-norm statistics: images of any size in bounded
 * memory, without the seams per-tile normalisation leaves (each tile would get its own brightness
 * and contrast).
 *
 * Pass 1 (instance-norm generators) finds every instance-norm layer's per-channel mean and variance
 * for the whole image, with the exporter's statistics graph, in one of three ways:
 *   `subsampled`: one run on the whole image point-subsampled to a working size (the caller
 *     subsamples): full-resolution pixels, so noise and fine texture keep their spread;
 *   `downscaled`: the same on the image reduced with a bicubic filter (the caller resizes), which
 *     averages noise and fine texture away: first layers that respond to them see too little variance;
 *   `exact`: layer by layer: layer k's statistics are summed over tile cores at full resolution
 *     with layers < k already normalised by their exact statistics (K passes over the image).
 * Pass 2 runs overlapping tiles through the apply graph (instance norm with those statistics; the
 * plain graph for batch-norm and no-norm generators) and blends them into rows, emitted top to
 * bottom so only one band of tile rows is held in float.
 *
 * The module knows nothing of files, threads or onnxruntime: it calls `run` with named feeds.
 */
import type { TilingManifest } from '../../core/modelManifest';
import { tilingNames } from '../../core/arch/tileGeometry';
import { subsampleNearest } from '../../core/image/resample';
import type { ImageSize, RawImage } from '../../core/image/rawImage';
import { blendRange, blendWeight, planTiles, type TilePlan } from './tilePlan';

export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export type Feed =
  { type: 'float32'; data: Float32Array; dims: number[] } | { type: 'int64'; data: BigInt64Array; dims: number[] };

export type TilingGraph = 'plain' | 'statistics' | 'apply';

/** Runs one of the direction's graphs on `feeds`, returning the `fetch`ed outputs. */
export type RunGraph = (
  graph: TilingGraph,
  feeds: Record<string, Feed>,
  fetch: string[],
) => Promise<Record<string, Tensor>>;

/** The full-size model input, read a rectangle at a time. */
export interface TileSource {
  width: number;
  height: number;
  channels: number;
  /** Rows y…y+h, columns x…x+w as model input [1, C, h, w] (normalised). */
  read(x: number, y: number, w: number, h: number): Float32Array;
}

/** Receives finished output rows in order: [C, h, width] starting at row `y`. */
export type RowSink = (y: number, rows: Float32Array, h: number) => void | Promise<void>;

export const STATS_MODES = ['subsampled', 'downscaled', 'exact'] as const;
export type StatsMode = (typeof STATS_MODES)[number];

export interface LayerStats {
  mean: Float32Array;
  variance: Float32Array;
}

export interface TiledOptions {
  tiling: TilingManifest;
  outputChannels: number;
  /** Side of the tiles run through the network, halo included. */
  tileSide: number;
  stats?: StatsMode;
  /** The whole image at the working size: needed by `subsampled` and `downscaled`; centres `exact`'s sums when given. */
  statsInput?: Tensor;
  /** Blend ramp half-width (default 2 × the downsampling factor); the halo grows by as much. */
  feather?: number;
  /** Output rows are blended in float, so a tile row's band must fit; called after each tile. */
  onTile?: (pass: string, done: number, total: number) => void;
}

export interface TiledResult {
  tiles: number;
  /** Milliseconds in pass 1 (statistics) and pass 2 (apply + blend). */
  statsMs: number;
  applyMs: number;
  stats: LayerStats[];
  /** Inner core boundaries of pass 2 (where tiles meet). */
  seams: { x: number[]; y: number[] };
}

/** A tiling request the model cannot honour (no tiling graphs, tile too small): the caller's mistake. */
export class TilingError extends Error {}

/** `tile=`: `auto` (by the tile budget), `off`, or the side of the tiles in pixels, halo included. */
export type TileChoice = 'auto' | 'off' | number;

/** What `tile=` accepts, in words, for messages. */
export const TILE_WORDS = 'auto, off or a tile side of 1-99999 pixels';

export function parseTileChoice(s: string): TileChoice {
  if (s === 'auto' || s === 'off') return s;
  if (!/^[1-9][0-9]{0,4}$/.test(s)) throw new TilingError(`tile must be ${TILE_WORDS}, got '${s}'`);
  return Number(s);
}

export interface TilingSettings {
  /** `auto` tiles processing sizes above this many pixels, in square tiles of this many (halo included). */
  tilePixels: number;
  stats: StatsMode;
  /** Long side of the working size `subsampled` and `downscaled` statistics are measured at (also at most tilePixels). */
  statsSide: number;
}

/**
 * Defaults chosen with `npm run bench -- --only tiling` (bench/tiling.ts; figures in bench/README.md):
 * the tile budget bounds a ResNet-9 ngf 64 generator's tile memory; statistics at a long side of 1024
 * (capped by the tile budget) at a fraction of exact ones' cost, subsampled because a bicubic
 * reduction loses the noise variance a generator's first layers measure on grainy images.
 */
export const DEFAULT_TILING: TilingSettings = { tilePixels: 640 * 640, stats: 'subsampled', statsSide: 1024 };

/** Blend ramp half-width: two steps of the downsampling grid. */
export function tileFeather(t: TilingManifest): number {
  return 2 * t.multiple;
}

/** The size working-size statistics are measured at: long side ≤ statsSide, pixels ≤ tilePixels, never enlarged. */
export function workingSize(
  size: { width: number; height: number },
  t: TilingSettings,
  multiple: number,
): { width: number; height: number } {
  const scale = Math.min(
    1,
    t.statsSide / Math.max(size.width, size.height),
    Math.sqrt(t.tilePixels / (size.width * size.height)),
  );
  const side = (v: number) => Math.max(multiple, Math.floor((v * scale) / multiple) * multiple);
  return scale === 1 ? { ...size } : { width: side(size.width), height: side(size.height) };
}

/**
 * The whole image at the working size, as `mode` measures statistics on it: point-subsampled
 * (`subsampled`, and `exact`'s centres), or reduced by `reduce` (the caller's bicubic resize).
 */
export async function statsWorkingImage(
  img: RawImage,
  size: ImageSize,
  mode: StatsMode,
  reduce: (img: RawImage, size: ImageSize) => RawImage | Promise<RawImage>,
): Promise<RawImage> {
  return mode === 'downscaled' ? reduce(img, size) : subsampleNearest(img, size.width, size.height);
}

const f32 = (data: Float32Array, dims: number[]): Feed => ({ type: 'float32', data, dims });
const i64 = (values: number[]): Feed => ({
  type: 'int64',
  data: BigInt64Array.from(values.map(BigInt)),
  dims: [values.length],
});

function statsFeeds(tiling: TilingManifest, stats: (LayerStats | null)[]): Record<string, Feed> {
  const feeds: Record<string, Feed> = {};
  tiling.layers.forEach((l, k) => {
    const s = stats[k];
    feeds[tilingNames.mean(k)] = f32(s ? s.mean : new Float32Array(l.channels), [l.channels]);
    feeds[tilingNames.variance(k)] = f32(s ? s.variance : new Float32Array(l.channels).fill(1), [l.channels]);
  });
  return feeds;
}

/** Mean and biased variance from sums of (x − centre) and (x − centre)² over n values. */
function fromSums(centre: Float32Array | null, s1: Float64Array, s2: Float64Array, n: number): LayerStats {
  const c = s1.length;
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    const m = s1[i] / n;
    mean[i] = (centre ? centre[i] : 0) + m;
    variance[i] = Math.max(0, s2[i] / n - m * m);
  }
  return { mean, variance };
}

/** Every layer's statistics from one run of the statistics graph on the whole image (at the working size). */
export async function wholeImageStatistics(
  tiling: TilingManifest,
  input: Tensor,
  run: RunGraph,
): Promise<LayerStats[]> {
  const [, , h, w] = input.dims;
  const K = tiling.layers.length;
  const fetch = tiling.layers.flatMap((_, k) => [tilingNames.ownMean(k), tilingNames.ownVariance(k)]);
  const out = await run(
    'statistics',
    {
      input: f32(input.data, input.dims),
      ...statsFeeds(tiling, []),
      [tilingNames.given]: f32(new Float32Array(K), [K]),
      [tilingNames.region]: i64([0, 0, h, w]),
    },
    fetch,
  );
  return tiling.layers.map((_, k) => ({
    mean: out[tilingNames.ownMean(k)].data,
    variance: out[tilingNames.ownVariance(k)].data,
  }));
}

/**
 * Exact statistics, layer by layer: for layer k every tile (its own halo, cores partitioning the
 * image) runs with layers < k normalised by their final statistics and sums layer k's input over
 * its core; the sums over all cores are the whole image's.
 */
export async function exactStatistics(
  src: TileSource,
  tiling: TilingManifest,
  tileSide: number,
  run: RunGraph,
  centres: LayerStats[] | null,
  onTile?: TiledOptions['onTile'],
): Promise<{ stats: LayerStats[]; tiles: number }> {
  const K = tiling.layers.length;
  const stats: LayerStats[] = [];
  let tiles = 0;
  for (let k = 0; k < K; k++) {
    const layer = tiling.layers[k];
    const plan = planTiles({
      width: src.width,
      height: src.height,
      tileSide,
      halo: layer.halo,
      multiple: tiling.multiple,
    });
    const given = new Float32Array(K);
    given.fill(1, 0, k);
    const feeds = statsFeeds(tiling, [...stats, ...(centres ? centres.slice(k) : [])]);
    const s1 = new Float64Array(layer.channels);
    const s2 = new Float64Array(layer.channels);
    const total = (plan.x.bounds.length - 1) * (plan.y.bounds.length - 1);
    let done = 0;
    for (let r = 0; r + 1 < plan.y.bounds.length; r++)
      for (let i = 0; i + 1 < plan.x.bounds.length; i++) {
        const [x0, x1, y0, y1] = [plan.x.start[i], plan.x.end[i], plan.y.start[r], plan.y.end[r]];
        const region = [
          plan.y.bounds[r] - y0,
          plan.x.bounds[i] - x0,
          plan.y.bounds[r + 1] - y0,
          plan.x.bounds[i + 1] - x0,
        ];
        const out = await run(
          'statistics',
          {
            ...feeds,
            input: f32(src.read(x0, y0, x1 - x0, y1 - y0), [1, src.channels, y1 - y0, x1 - x0]),
            [tilingNames.given]: f32(given, [K]),
            [tilingNames.region]: i64(region),
          },
          [tilingNames.sum(k), tilingNames.sumSquares(k)],
        );
        const a = out[tilingNames.sum(k)].data;
        const b = out[tilingNames.sumSquares(k)].data;
        for (let c = 0; c < layer.channels; c++) {
          s1[c] += a[c];
          s2[c] += b[c];
        }
        tiles++;
        onTile?.(`statistics ${k + 1}/${K}`, ++done, total);
      }
    const n = (src.width / layer.scale) * (src.height / layer.scale);
    stats.push(fromSums(centres ? centres[k].mean : null, s1, s2, n));
  }
  return { stats, tiles };
}

/** Runs the whole tiled translation: statistics (if instance norm), then tiles blended into rows for `sink`. */
export async function translateTiled(
  src: TileSource,
  sink: RowSink,
  run: RunGraph,
  o: TiledOptions,
): Promise<TiledResult> {
  const t0 = performance.now();
  const tiling = o.tiling;
  const instance = tiling.norm === 'instance';
  let stats: LayerStats[] = [];
  let tiles = 0;
  if (instance) {
    const mode = o.stats ?? DEFAULT_TILING.stats;
    const estimate = o.statsInput ? await wholeImageStatistics(tiling, o.statsInput, run) : null;
    if (mode !== 'exact') {
      if (!estimate) throw new Error(`${mode} statistics need the image at the working size (statsInput)`);
      stats = estimate;
    } else {
      const exact = await exactStatistics(src, tiling, o.tileSide, run, estimate, o.onTile);
      stats = exact.stats;
      tiles += exact.tiles;
    }
  }
  const t1 = performance.now();

  const feather = o.feather ?? tileFeather(tiling);
  const plan = planTiles({
    width: src.width,
    height: src.height,
    tileSide: o.tileSide,
    halo: tiling.halo + feather,
    multiple: tiling.multiple,
    feather,
  });
  const feeds = instance ? statsFeeds(tiling, stats) : {};
  const graph: TilingGraph = instance ? 'apply' : 'plain';
  const runTile = async (input: Feed): Promise<Tensor> => (await run(graph, { ...feeds, input }, ['output'])).output;
  tiles += await applyPass(src, sink, plan, o.outputChannels, runTile, o.onTile);
  const seams = { x: plan.x.bounds.slice(1, -1), y: plan.y.bounds.slice(1, -1) };
  return { tiles, statsMs: t1 - t0, applyMs: performance.now() - t1, stats, seams };
}

async function applyPass(
  src: TileSource,
  sink: RowSink,
  plan: TilePlan,
  C: number,
  runTile: (input: Feed) => Promise<Tensor>,
  onTile?: TiledOptions['onTile'],
): Promise<number> {
  const { width: W, height: H, feather: f } = plan;
  const rowsN = plan.y.bounds.length - 1;
  const colsN = plan.x.bounds.length - 1;
  // Per-column x weights, computed once.
  const wx = Array.from({ length: colsN }, (_, i) => {
    const [a, b] = blendRange(plan.x, i, f);
    return { from: a, w: Float32Array.from({ length: b - a }, (_, j) => blendWeight(plan.x, i, a + j, f)) };
  });
  let band = { y0: 0, rows: 0, acc: new Float32Array(0) };
  let done = 0;
  for (let r = 0; r < rowsN; r++) {
    const [yLo, yHi] = blendRange(plan.y, r, f);
    // New band [yLo, yHi); rows carried from the previous band are already partly accumulated.
    const acc = new Float32Array(C * (yHi - yLo) * W);
    if (band.rows > 0) {
      const carried = band.y0 + band.rows - yLo;
      for (let c = 0; c < C; c++)
        acc.set(
          band.acc.subarray((c * band.rows + band.rows - carried) * W, (c + 1) * band.rows * W),
          c * (yHi - yLo) * W,
        );
    }
    band = { y0: yLo, rows: yHi - yLo, acc };
    const wy = Float32Array.from({ length: yHi - yLo }, (_, j) => blendWeight(plan.y, r, yLo + j, f));
    for (let i = 0; i < colsN; i++) {
      const [x0, x1, y0, y1] = [plan.x.start[i], plan.x.end[i], plan.y.start[r], plan.y.end[r]];
      const tw = x1 - x0;
      const th = y1 - y0;
      const out = await runTile(f32(src.read(x0, y0, tw, th), [1, src.channels, th, tw]));
      if (out.dims[1] !== C || out.dims[2] !== th || out.dims[3] !== tw)
        throw new Error(`tile output [${out.dims}] for a ${tw}x${th} tile, expected [1, ${C}, ${th}, ${tw}]`);
      const { from, w } = wx[i];
      for (let c = 0; c < C; c++)
        for (let y = yLo; y < yHi; y++) {
          const a = wy[y - yLo];
          if (a === 0) continue;
          const accRow = (c * band.rows + (y - yLo)) * W;
          const outRow = (c * th + (y - y0)) * tw - x0;
          for (let j = 0; j < w.length; j++) {
            const x = from + j;
            acc[accRow + x] += a * w[j] * out.data[outRow + x];
          }
        }
      onTile?.('tiles', ++done, rowsN * colsN);
    }
    // Rows before the next ramp are final.
    const finalTo = r + 1 < rowsN ? plan.y.bounds[r + 1] - f : H;
    const h = finalTo - yLo;
    const rows = new Float32Array(C * h * W);
    for (let c = 0; c < C; c++) rows.set(acc.subarray(c * band.rows * W, (c * band.rows + h) * W), c * h * W);
    await sink(yLo, rows, h);
  }
  return rowsN * colsN;
}
