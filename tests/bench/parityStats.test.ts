/** bench/parityStats.ts: Student's t quantiles against printed tables, t and Welch intervals. */
import { meanInterval, studentTCdf, studentTQuantile, welchInterval } from '../../bench/parityStats';

test.each([
  // Two-sided 95 % critical values as printed in t tables (and scipy.stats.t.ppf(0.975, df)).
  [1, 12.7062047],
  [2, 4.30265273],
  [7, 2.36462425],
  [15, 2.13144955],
  [30, 2.04227246],
  [1e7, 1.95996432],
])('t quantile 0.975 with %d df is %f', (df, want) => {
  expect(studentTQuantile(0.975, df)).toBeCloseTo(want, 6);
  expect(studentTQuantile(0.025, df)).toBeCloseTo(-want, 6);
});

test('the CDF is symmetric, monotone and 1/2 at 0; fractional df lie between their neighbours', () => {
  expect(studentTCdf(0, 5)).toBeCloseTo(0.5, 12);
  expect(studentTCdf(1.3, 5) + studentTCdf(-1.3, 5)).toBeCloseTo(1, 12);
  expect(studentTCdf(1, 3)).toBeLessThan(studentTCdf(1.1, 3));
  const q = studentTQuantile(0.975, 13.5);
  expect(q).toBeLessThan(studentTQuantile(0.975, 13));
  expect(q).toBeGreaterThan(studentTQuantile(0.975, 14));
});

test('mean interval: mean ± t(n−1)·sd/√n', () => {
  const r = meanInterval([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(r.mean).toBe(4.5);
  expect(r.sd).toBeCloseTo(Math.sqrt(6), 12);
  expect(r.half).toBeCloseTo((2.36462425 * Math.sqrt(6)) / Math.sqrt(8), 6);
});

test('Welch: equal sizes and variances give 2n − 2 df; unequal variances fewer', () => {
  const xs = [1, 2, 3, 4, 5, 6, 7, 8];
  const r = welchInterval(
    xs.map((x) => x + 1.5),
    xs,
  );
  expect(r.diff).toBeCloseTo(1.5, 12);
  expect(r.df).toBeCloseTo(14, 9);
  expect(r.half).toBeCloseTo(2.14478669 * Math.sqrt((2 * 6) / 8), 6);
  const wide = welchInterval(
    xs.map((x) => 10 * x),
    xs,
  );
  // Satterthwaite: (100v/n + v/n)² / ((100v/n)² + (v/n)²) · (n − 1) = 101² / 10001 · 7.
  expect(wide.df).toBeCloseTo((101 ** 2 / 10001) * 7, 9);
});

test('too few values is a clear error', () => {
  expect(() => meanInterval([1])).toThrow('at least 2 values');
  expect(() => welchInterval([1, 2], [3])).toThrow('at least 2 values');
  expect(() => studentTQuantile(1, 3)).toThrow('p must lie in (0, 1)');
});
