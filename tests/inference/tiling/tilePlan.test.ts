/**
 * Tile placement and blend weights (inference/tiling/tilePlan.ts), and the halo the architecture
 * spec gives (core/arch/tileGeometry.ts).
 */
import { generatorSpec } from '../../../core/arch/spec';
import { tileGeometry } from '../../../core/arch/tileGeometry';
import { blendRange, blendWeight, planTiles } from '../../../inference/tiling/tilePlan';

describe('planTiles', () => {
  const cases = [
    { width: 160, height: 120, tileSide: 80, halo: 32, multiple: 4, feather: 8 },
    { width: 1024, height: 768, tileSide: 640, halo: 80, multiple: 4, feather: 8 },
    { width: 2000, height: 1336, tileSide: 640, halo: 96, multiple: 4, feather: 8 },
    { width: 96, height: 64, tileSide: 200, halo: 24, multiple: 8, feather: 0 },
  ];
  test.each(cases)('$width×$height in $tileSide px tiles: aligned cores, halos only inside, weights sum to 1', (o) => {
    const plan = planTiles(o);
    for (const [a, size] of [
      [plan.x, o.width],
      [plan.y, o.height],
    ] as const) {
      expect(a.bounds[0]).toBe(0);
      expect(a.bounds.at(-1)).toBe(size);
      for (let i = 0; i + 1 < a.bounds.length; i++) {
        expect(a.bounds[i] % o.multiple).toBe(0);
        expect(a.bounds[i + 1] - a.bounds[i]).toBeGreaterThanOrEqual(2 * plan.feather);
        expect(a.end[i] - a.start[i]).toBeLessThanOrEqual(o.tileSide);
        // Image borders get no halo; inner borders the full halo (clamped to the image).
        expect(a.start[i]).toBe(Math.max(0, a.bounds[i] - o.halo));
        expect(a.end[i]).toBe(Math.min(size, a.bounds[i + 1] + o.halo));
      }
      for (let p = 0; p < size; p++) {
        let sum = 0;
        for (let i = 0; i + 1 < a.bounds.length; i++) {
          const w = blendWeight(a, i, p, plan.feather);
          const [from, to] = blendRange(a, i, plan.feather);
          if (p < from || p >= to) expect(w).toBe(0);
          // A tile is only trusted where its halo covers the feather.
          if (w > 0) expect(p >= a.start[i] && p < a.end[i]).toBe(true);
          sum += w;
        }
        expect(sum).toBeCloseTo(1, 12);
      }
    }
  });

  test('refuses sizes off the downsampling grid and tiles smaller than the halo needs', () => {
    expect(() => planTiles({ width: 30, height: 32, tileSide: 64, halo: 8, multiple: 4 })).toThrow(/multiple of 4/);
    expect(() => planTiles({ width: 32, height: 32, tileSide: 40, halo: 20, multiple: 4 })).toThrow(
      /tiles need at least 44 px/,
    );
  });
});

describe('tileGeometry', () => {
  const geo = (netG: string, norm: 'instance' | 'batch' | 'none' = 'instance') =>
    tileGeometry(generatorSpec({ netG, inputNc: 3, outputNc: 3, ngf: 8, norm, useDropout: false }));

  test('ResNet-9: 3 px (7×7) + 2 stride-2 convs + 18 3×3 convs at ¼ scale + 2 transposed convs + 3 px = 86 → 88', () => {
    // 3 → ⌈4/2⌉ = 2 → ⌈3/2⌉ = 2 (×4 px) → +18 = 20 → 2·20+1 = 41 (×2 px) → 83 → +3 = 86 input px.
    const g = geo('resnet_9blocks');
    expect(g).toMatchObject({ halo: 88, multiple: 4, norm: 'instance' });
    expect(g.normLayers).toHaveLength(23);
    expect(g.normLayers.map((l) => l.scale)).toEqual([1, 2, 4, ...Array(18).fill(4), 2, 1]);
    // Each layer needs no more context than the next.
    for (let k = 1; k < g.normLayers.length; k++)
      expect(g.normLayers[k].halo).toBeGreaterThanOrEqual(g.normLayers[k - 1].halo);
  });

  test('the halo grows with depth; U-Nets align to 2^depth; batch and no norm have no statistics layers', () => {
    expect(geo('resnet_6blocks').halo).toBeLessThan(geo('resnet_9blocks').halo);
    expect(geo('unet_128').multiple).toBe(128);
    expect(geo('unet_256').multiple).toBe(256);
    expect(geo('resnet_6blocks', 'batch')).toMatchObject({ norm: 'batch', normLayers: [] });
    expect(geo('resnet_6blocks', 'none')).toMatchObject({ norm: 'none', normLayers: [] });
  });
});
