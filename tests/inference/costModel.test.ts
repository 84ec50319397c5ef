import type { ModelManifest, TilingManifest } from '../../core/modelManifest';
import {
  checkDeadline,
  DeadlineError,
  largestFittingSide,
  plannedRuns,
  RunPrices,
  type GeneratorRun,
} from '../../inference/costModel';
import type { PlanContext, RequestPlan } from '../../inference/requestPlan';
import {
  DEFAULT_TILING,
  translateTiled,
  workingSize,
  type RunGraph,
  type TilingSettings,
} from '../../inference/tiling/tiledTranslate';

const TILING: TilingManifest = {
  halo: 16,
  multiple: 4,
  norm: 'instance',
  layers: [
    { channels: 4, scale: 1, halo: 4 },
    { channels: 8, scale: 2, halo: 8 },
  ],
  statistics: { file: 'AtoB.tile-stats.onnx', sha256: '0'.repeat(64) },
  apply: { file: 'AtoB.tile-apply.onnx', sha256: '0'.repeat(64) },
};

const manifest = {
  name: 'm',
  preferredSize: 32,
  sizeMultiple: 4,
  normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  directions: { AtoB: { file: 'AtoB.onnx', tiling: TILING } },
} as unknown as ModelManifest;

function context(tiling: Partial<TilingSettings> = {}): PlanContext {
  return { name: 'm', manifest, limits: { maxPixels: 1e9 }, tiling: { ...DEFAULT_TILING, ...tiling } };
}

/** Runs translateTiled with a graph that only records what it was asked to run. */
async function runsOfTiledTranslation(plan: Extract<RequestPlan, { kind: 'tiled' }>, c: PlanContext) {
  const seen: GeneratorRun[] = [];
  const run: RunGraph = async (graph, feeds, fetch) => {
    const [, , h, w] = feeds.input.dims;
    seen.push({ graph, pixels: h * w, count: 1 });
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const name of fetch)
      out[name] =
        name === 'output'
          ? { data: new Float32Array(3 * h * w), dims: [1, 3, h, w] }
          : { data: new Float32Array(8), dims: [8] };
    return out;
  };
  const { width, height } = plan.processing;
  const ws = workingSize(plan.processing, c.tiling, manifest.sizeMultiple);
  await translateTiled(
    { width, height, channels: 3, read: (_x, _y, w, h) => new Float32Array(3 * w * h) },
    () => undefined,
    run,
    {
      tiling: plan.tiling,
      outputChannels: 3,
      tileSide: plan.side,
      stats: c.tiling.stats,
      statsInput: { data: new Float32Array(3 * ws.width * ws.height), dims: [1, 3, ws.height, ws.width] },
    },
  );
  return seen;
}

/** Runs as a sorted list of `graph:pixels` (one entry per run). */
const expand = (runs: GeneratorRun[]) =>
  runs.flatMap((r) => Array.from({ length: r.count }, () => `${r.graph}:${r.pixels}`)).sort();

describe('RunPrices', () => {
  it('keeps an EWMA of the time per pixel per direction, graph and power-of-two band of run size', () => {
    const p = new RunPrices();
    expect(p.msPerPixel('AtoB', 'plain', 1024)).toBe(0); // nothing timed: nothing priced
    p.observe('AtoB', 'plain', 1024, 1, 10.24); // 0.01 ms/px
    expect(p.msPerPixel('AtoB', 'plain', 1024)).toBeCloseTo(0.01, 10);
    p.observe('AtoB', 'plain', 1024, 2, 2 * 20.48); // a batch of 2 at 0.02 ms/px: 0.8·0.01 + 0.2·0.02
    expect(p.msPerPixel('AtoB', 'plain', 1024)).toBeCloseTo(0.012, 10);
    // A larger band has its own rate (larger runs cost more per pixel).
    p.observe('AtoB', 'plain', 512 * 512, 1, 512 * 512 * 0.05);
    expect(p.msPerPixel('AtoB', 'plain', 300_000)).toBeCloseTo(0.05, 10);
    expect(p.msPerPixel('AtoB', 'plain', 2000)).toBeCloseTo(0.012, 10);
  });

  it('prices an untimed size from the nearest smaller timed band (estimates err low), else the next larger', () => {
    const p = new RunPrices();
    p.observe('AtoB', 'plain', 4096, 1, 4096 * 0.01);
    p.observe('AtoB', 'plain', 65_536, 1, 65_536 * 0.03);
    expect(p.msPerPixel('AtoB', 'plain', 20_000)).toBeCloseTo(0.01, 10); // between: the smaller
    expect(p.msPerPixel('AtoB', 'plain', 25_000_000)).toBeCloseTo(0.03, 10); // above all: the largest
    expect(p.msPerPixel('AtoB', 'plain', 100)).toBeCloseTo(0.01, 10); // below all: the smallest
  });

  it('falls back from apply tiles to the plain graph and from one direction to the other; statistics only on their own', () => {
    const p = new RunPrices();
    p.observe('AtoB', 'plain', 4096, 1, 4096 * 0.01);
    expect(p.msPerPixel('AtoB', 'apply', 4096)).toBeCloseTo(0.01, 10);
    expect(p.msPerPixel('BtoA', 'plain', 4096)).toBeCloseTo(0.01, 10);
    expect(p.msPerPixel(undefined, 'plain', 4096)).toBeCloseTo(0.01, 10);
    expect(p.msPerPixel('AtoB', 'statistics', 4096)).toBe(0);
    p.observe('AtoB', 'apply', 4096, 1, 4096 * 0.02);
    expect(p.msPerPixel('AtoB', 'apply', 4096)).toBeCloseTo(0.02, 10);
    p.observe('BtoA', 'plain', 4096, 1, 4096 * 0.04);
    expect(p.msPerPixel('BtoA', 'plain', 4096)).toBeCloseTo(0.04, 10);
    expect(p.estimateMs('AtoB', [{ graph: 'plain', pixels: 4096, count: 3 }])).toBeCloseTo(3 * 4096 * 0.01, 6);
  });
});

describe('plannedRuns', () => {
  it('a batched request is one plain run at its processing size', () => {
    expect(plannedRuns({ kind: 'batched', processing: { width: 80, height: 60 } }, context())).toEqual([
      { graph: 'plain', pixels: 4800, count: 1 },
    ]);
  });

  it.each(['downscaled', 'exact'] as const)(
    'a tiled request (%s statistics) is exactly the runs translateTiled makes, tiles and halos included',
    async (stats) => {
      const c = context({ stats, statsSide: 64, tilePixels: 4096 });
      const plan = { kind: 'tiled' as const, processing: { width: 200, height: 152 }, side: 64, tiling: TILING };
      const planned = plannedRuns(plan, c);
      const real = await runsOfTiledTranslation(plan, c);
      expect(expand(planned)).toEqual(expand(real));
      expect(real.length).toBeGreaterThan(10);
      expect(planned.some((r) => r.graph === 'statistics')).toBe(true);
    },
  );
});

describe('checkDeadline', () => {
  const base = { what: 'translating this image at 5000x5000', fits: () => 'size=2200 or smaller fits' };

  it('refuses as too slow what even an idle model could not finish, saying what would fit', () => {
    expect(() => checkDeadline({ ...base, ownMs: 148_000, aheadMs: 0, leftMs: 30_000 })).toThrow(
      'translating this image at 5000x5000 would take about 148 s, more than its deadline allows: size=2200 or smaller fits',
    );
    try {
      checkDeadline({ ...base, ownMs: 148_000, aheadMs: 0, leftMs: 30_000 });
    } catch (e) {
      expect(e).toBeInstanceOf(DeadlineError);
      expect((e as DeadlineError).reason).toBe('too-slow');
    }
  });

  it('refuses as busy what fits alone but not behind the queue, with the seconds until it would', () => {
    let err: unknown;
    try {
      checkDeadline({ ...base, ownMs: 20_000, aheadMs: 12_500, leftMs: 30_000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as DeadlineError).reason).toBe('busy');
    expect((err as DeadlineError).retryAfterS).toBe(3);
    expect((err as Error).message).toMatch(/work queued ahead \(about 13 s\).*would not finish before its deadline/);
  });

  it('admits what fits', () => {
    expect(() => checkDeadline({ ...base, ownMs: 20_000, aheadMs: 9_000, leftMs: 30_000 })).not.toThrow();
  });
});

describe('largestFittingSide', () => {
  it('finds the largest size= whose plan (tiled above the tile budget) is priced within the budget', () => {
    const c = context({ tilePixels: 4096 });
    const p = new RunPrices();
    p.observe('AtoB', 'plain', 4096, 1, 4096 * 0.01);
    const input = { width: 3000, height: 2000 };
    const side = largestFittingSide(input, c, { direction: 'AtoB', below: 3000 }, p, 2000)!;
    const cost = (s: number) => {
      const processing = { width: Math.round((s * 3) / 3 / 4) * 4, height: Math.round((s * 2) / 3 / 4) * 4 };
      const plan: RequestPlan =
        processing.width * processing.height <= 4096
          ? { kind: 'batched', processing }
          : { kind: 'tiled', processing, side: 64, tiling: TILING };
      return p.estimateMs('AtoB', plannedRuns(plan, c));
    };
    expect(side).toBeGreaterThan(100);
    expect(cost(side)).toBeLessThanOrEqual(2000);
    expect(cost(side + 8)).toBeGreaterThan(2000);
    expect(largestFittingSide(input, c, { direction: 'AtoB', below: 3000 }, p, 0.001)).toBeNull();
  });
});
