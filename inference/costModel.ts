/**
 * What a request will cost before it runs, so that one that cannot finish by its deadline is
 * refused at once instead of after running. A request is a list of generator runs (the whole image
 * through the batch queue, or every tile of every tiled pass, halo included), each priced at the
 * time per pixel measured on this model's own runs: seeded by the warm-up, then an EWMA of every
 * batch and every tile that really ran.
 *
 * Time per pixel grows with the size of a run (a larger run no longer fits the caches), so
 * it is kept per power-of-two band of run pixels, per direction and graph. A band not yet timed is
 * priced from the nearest smaller one that is, and statistics graphs not yet timed cost nothing:
 * estimates err low, so a request is refused only on the evidence of real runs; one that runs
 * longer than priced is cancelled at its deadline (between tiles, before a batch) and its timing
 * corrects the price for the next.
 */
import type { ImageSize } from '../core/image/rawImage';
import { processingSize } from './preprocess';
import { chooseTileSide, type PlanContext, type RequestPlan } from './requestPlan';
import { planTiles, type TilePlan } from './tiling/tilePlan';
import { tileFeather, workingSize, type TileChoice, type TilingGraph } from './tiling/tiledTranslate';

/** Weight of the newest run in the smoothed time per pixel. */
const NEWEST_WEIGHT = 0.2;

/** `count` runs of `graph` on inputs of `pixels` (H × W) each. */
export interface GeneratorRun {
  graph: TilingGraph;
  pixels: number;
  count: number;
}

/** Power-of-two band of a run's pixels. */
const bandOf = (pixels: number) => Math.floor(Math.log2(Math.max(1, pixels)));

/** Measured milliseconds per pixel of one model's generator runs. */
export class RunPrices {
  /** `${direction}/${graph}` → band → smoothed ms per pixel. */
  private readonly rates = new Map<string, Map<number, number>>();

  /** A run that took `ms` for `samples` inputs of `pixels` each. */
  observe(direction: string, graph: TilingGraph, pixels: number, samples: number, ms: number): void {
    if (!(pixels > 0 && samples > 0 && ms >= 0)) return;
    const key = `${direction}/${graph}`;
    let bands = this.rates.get(key);
    if (!bands) this.rates.set(key, (bands = new Map()));
    const band = bandOf(pixels);
    const rate = ms / (pixels * samples);
    const old = bands.get(band);
    bands.set(band, old === undefined ? rate : (1 - NEWEST_WEIGHT) * old + NEWEST_WEIGHT * rate);
  }

  /**
   * Milliseconds per pixel of a run of `pixels`: this direction's (any direction's when undefined or
   * untimed) own graph, an `apply` tile priced as the plain graph until tiles have run; 0 when
   * nothing comparable has been timed.
   */
  msPerPixel(direction: string | undefined, graph: TilingGraph, pixels: number): number {
    const graphs: TilingGraph[] = graph === 'apply' ? ['apply', 'plain'] : [graph];
    const band = bandOf(pixels);
    for (const g of graphs) {
      const own = direction === undefined ? undefined : this.rates.get(`${direction}/${g}`);
      const found = (own && nearestBand(own, band)) ?? this.anyDirection(g, band);
      if (found !== undefined) return found;
    }
    return 0;
  }

  /** Milliseconds the runs are expected to take on an idle model. */
  estimateMs(direction: string | undefined, runs: readonly GeneratorRun[]): number {
    let ms = 0;
    for (const r of runs) ms += r.count * r.pixels * this.msPerPixel(direction, r.graph, r.pixels);
    return ms;
  }

  private anyDirection(graph: TilingGraph, band: number): number | undefined {
    let best: number | undefined;
    for (const [key, bands] of this.rates)
      if (key.endsWith(`/${graph}`)) {
        const r = nearestBand(bands, band);
        if (r !== undefined && (best === undefined || r > best)) best = r;
      }
    return best;
  }
}

/** The rate of the largest timed band at or below `band`, else of the smallest above it. */
function nearestBand(bands: Map<number, number>, band: number): number | undefined {
  let below: number | undefined;
  let above: number | undefined;
  for (const b of bands.keys()) {
    if (b <= band && (below === undefined || b > below)) below = b;
    if (b > band && (above === undefined || b < above)) above = b;
  }
  const b = below ?? above;
  return b === undefined ? undefined : bands.get(b);
}

/** Every tile of a plan, grouped by its pixels (tiles at the image's edges are smaller). */
function tileRuns(plan: TilePlan, graph: TilingGraph): GeneratorRun[] {
  const counts = new Map<number, number>();
  for (let r = 0; r < plan.y.start.length; r++)
    for (let i = 0; i < plan.x.start.length; i++) {
      const px = (plan.x.end[i] - plan.x.start[i]) * (plan.y.end[r] - plan.y.start[r]);
      counts.set(px, (counts.get(px) ?? 0) + 1);
    }
  return [...counts].map(([pixels, count]) => ({ graph, pixels, count }));
}

/** The generator runs a request's plan makes (inference/model.ts runs exactly these). */
export function plannedRuns(plan: RequestPlan, c: Pick<PlanContext, 'tiling' | 'manifest'>): GeneratorRun[] {
  const { width, height } = plan.processing;
  if (plan.kind === 'batched') return [{ graph: 'plain', pixels: width * height, count: 1 }];
  const t = plan.tiling;
  const runs: GeneratorRun[] = [];
  const instance = t.norm === 'instance';
  if (instance) {
    // The whole image at the working size: the statistics themselves, or the centres of exact sums.
    const w = workingSize(plan.processing, c.tiling, c.manifest.sizeMultiple);
    runs.push({ graph: 'statistics', pixels: w.width * w.height, count: 1 });
  }
  if (instance && c.tiling.stats === 'exact')
    for (const layer of t.layers)
      runs.push(
        ...tileRuns(
          planTiles({ width, height, tileSide: plan.side, halo: layer.halo, multiple: t.multiple }),
          'statistics',
        ),
      );
  const feather = tileFeather(t);
  const apply = planTiles({
    width,
    height,
    tileSide: plan.side,
    halo: t.halo + feather,
    multiple: t.multiple,
    feather,
  });
  runs.push(...tileRuns(apply, instance ? 'apply' : 'plain'));
  return runs;
}

/** Runs that would not finish by the deadline: `too-slow` even on an idle model, else `busy`. */
export class DeadlineError extends Error {
  constructor(
    message: string,
    readonly reason: 'too-slow' | 'busy',
    /** Seconds after which the work queued ahead should have drained enough (busy). */
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

export interface DeadlineCheck {
  /** Milliseconds the request's own runs are priced at. */
  ownMs: number;
  /** Milliseconds of work queued ahead of it on the same model. */
  aheadMs: number;
  /** Milliseconds left before its deadline. */
  leftMs: number;
  /** What is priced, e.g. `translating this image at 5000x5000 (121 tiles)`. */
  what: string;
  /** What would fit instead (for `too-slow`), e.g. `size=2200 or smaller fits`. */
  fits: () => string;
}

const seconds = (ms: number) => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

/** Throws DeadlineError when the priced work cannot finish before the deadline. */
export function checkDeadline(c: DeadlineCheck): void {
  if (c.ownMs > c.leftMs)
    throw new DeadlineError(
      `${c.what} would take about ${seconds(c.ownMs)}, more than its deadline allows: ${c.fits()}`,
      'too-slow',
      0,
    );
  if (c.aheadMs + c.ownMs > c.leftMs)
    throw new DeadlineError(
      `the work queued ahead (about ${seconds(c.aheadMs)}) and ${c.what} (about ${seconds(c.ownMs)}) would not finish before its deadline`,
      'busy',
      Math.max(1, Math.ceil((c.aheadMs + c.ownMs - c.leftMs) / 1000)),
    );
}

/**
 * The largest `size=` (long side in pixels) whose plan is priced within `budgetMs` on an idle
 * model, or null when even the smallest is not. Price grows with the size, so a bisection finds it.
 */
export function largestFittingSide(
  input: ImageSize,
  c: PlanContext,
  o: { direction: string; tile?: TileChoice; below: number },
  prices: RunPrices,
  budgetMs: number,
): number | null {
  const entry = c.manifest.directions[o.direction as keyof typeof c.manifest.directions]?.tiling;
  const price = (side: number): number => {
    const processing = processingSize({ kind: 'long-side', side }, input, c.manifest);
    let tile: number | null;
    try {
      tile = chooseTileSide(c, entry, processing, o.tile);
    } catch {
      return Infinity;
    }
    const plan: RequestPlan =
      tile === null ? { kind: 'batched', processing } : { kind: 'tiled', processing, side: tile, tiling: entry! };
    return prices.estimateMs(o.direction, plannedRuns(plan, c));
  };
  let lo = 0;
  let hi = o.below;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (price(mid) <= budgetMs) lo = mid;
    else hi = mid;
  }
  return lo >= 1 ? lo : null;
}
