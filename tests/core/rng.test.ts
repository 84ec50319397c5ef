import { Rng, randomSeed } from '../../core/rng';

describe('Rng', () => {
  it('is xoshiro128** (reference outputs for state [1, 2, 3, 4])', () => {
    const r = Rng.fromState([1, 2, 3, 4]);
    const out = Array.from({ length: 6 }, () => r.nextUint32());
    expect(out).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('gives equal streams for equal seeds and different ones for different seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 50 }, () => a.next());
    expect(Array.from({ length: 50 }, () => b.next())).toEqual(sa);
    const sc = Array.from({ length: 50 }, () => c.next());
    expect(sc.filter((v, i) => v === sa[i]).length).toBe(0);
  });

  it('accepts large and negative safe-integer seeds and rejects others', () => {
    expect(new Rng(2 ** 40 + 5).next()).not.toBe(new Rng(5).next());
    expect(new Rng(-1).next()).not.toBe(new Rng(1).next());
    expect(() => new Rng(1.5)).toThrow(/seed must be a safe integer/);
    expect(() => new Rng(Number.NaN)).toThrow(/seed/);
  });

  it('round-trips its state through JSON and continues identically', () => {
    const a = new Rng(7);
    for (let i = 0; i < 123; i++) a.next();
    a.normal();
    const saved = JSON.parse(JSON.stringify(a.state())) as number[];
    expect(saved).toHaveLength(4);
    const b = Rng.fromState(saved);
    const mixed = (r: Rng) => [r.next(), r.int(1000), r.normal(), r.nextUint32(), ...r.permutation(5)];
    expect(mixed(b)).toEqual(mixed(a));
    expect(b.state()).toEqual(a.state());
  });

  it('rejects malformed states', () => {
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/all zero/);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/four uint32/);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(/four uint32/);
    expect(() => Rng.fromState([1, 2, 3, -1])).toThrow(/four uint32/);
  });

  it('next() is uniform in [0, 1)', () => {
    const r = new Rng(1);
    const bins = new Array(10).fill(0);
    const n = 50000;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const v = r.next();
      if (!(v >= 0 && v < 1)) outside++;
      else bins[Math.floor(v * 10)]++;
    }
    expect(outside).toBe(0);
    // chi-square with 9 degrees of freedom: 99.9th percentile is 27.9
    const chi = bins.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
    expect(chi).toBeLessThan(27.9);
  });

  it('int(n) covers [0, n) uniformly and validates n', () => {
    const r = new Rng(2);
    const n = 7;
    const counts = new Array(n).fill(0);
    const draws = 35000;
    for (let i = 0; i < draws; i++) counts[r.int(n)]++;
    const chi = counts.reduce((s, c) => s + (c - draws / n) ** 2 / (draws / n), 0);
    expect(chi).toBeLessThan(22.5); // 6 dof, 99.9th percentile
    expect(r.int(1)).toBe(0);
    expect(() => r.int(0)).toThrow(/integer in \[1, 2\^32\]/);
    expect(() => r.int(2.5)).toThrow();
  });

  it('normal() has mean 0 and variance 1', () => {
    const r = new Rng(3);
    const n = 40000;
    let s = 0;
    let s2 = 0;
    let nonFinite = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      if (!Number.isFinite(v)) nonFinite++;
      s += v;
      s2 += v * v;
    }
    expect(nonFinite).toBe(0);
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.02); // 4 standard errors
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });

  it('permutation() is a permutation and shuffles', () => {
    const r = new Rng(4);
    const p = r.permutation(100);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(r.permutation(0)).toHaveLength(0);
  });

  it('derive() gives reproducible, independent streams per key', () => {
    const first = (r: Rng) => Array.from({ length: 4 }, () => r.nextUint32());
    expect(first(Rng.derive(9, 1, 2))).toEqual(first(Rng.derive(9, 1, 2)));
    const variants = [
      Rng.derive(9, 1, 2),
      Rng.derive(9, 2, 1),
      Rng.derive(9, 1, 3),
      Rng.derive(10, 1, 2),
      Rng.derive(9, 1),
      Rng.derive(9, 1, 2, 0),
      new Rng(9),
    ].map((r) => first(r).join(','));
    expect(new Set(variants).size).toBe(variants.length);
    // Neighbouring keys must not give correlated first draws.
    const firstDraws = Array.from({ length: 2000 }, (_, i) => Rng.derive(1, 2, 3, i).next());
    const mean = firstDraws.reduce((a, b) => a + b, 0) / firstDraws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    let corr = 0;
    for (let i = 1; i < firstDraws.length; i++) corr += (firstDraws[i] - 0.5) * (firstDraws[i - 1] - 0.5);
    expect(Math.abs(corr / (firstDraws.length - 1) / (1 / 12))).toBeLessThan(0.1);
  });

  it('randomSeed() returns a uint32', () => {
    const s = randomSeed();
    expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });
});
