/**
 * bench/amdahl.ts: the per-part serial + parallel / threads fit of bench/ortScaling.ts, on parts
 * whose law is known.
 */
import { fitPart, project, serialShare } from '../../bench/amdahl';

test('fitPart recovers serial and parallel terms from two thread counts', () => {
  // 20 ms serial + 400 ms parallel: 420 ms on 1 thread, 120 ms on 4.
  const f = fitPart({ part: 'conv', few: 420, many: 120 }, 1, 4);
  expect(f.serial).toBeCloseTo(20, 9);
  expect(f.parallel).toBeCloseTo(400, 9);
  // The same part measured on 2 and 8 threads.
  const g = fitPart({ part: 'conv', few: 220, many: 70 }, 2, 8);
  expect(g.serial).toBeCloseTo(20, 9);
  expect(g.parallel).toBeCloseTo(400, 9);
});

test('fitPart: a part no faster on more threads is serial at its time there; a superlinear one wholly parallel', () => {
  expect(fitPart({ part: 'copy', few: 100, many: 130 }, 1, 2)).toMatchObject({ serial: 130, parallel: 0 });
  expect(fitPart({ part: 'copy', few: 100, many: 100 }, 1, 2)).toMatchObject({ serial: 100, parallel: 0 });
  expect(fitPart({ part: 'gemm', few: 100, many: 40 }, 1, 2)).toMatchObject({ serial: 0, parallel: 80 });
});

test('fitPart rejects thread counts that do not rise', () => {
  expect(() => fitPart({ part: 'x', few: 1, many: 1 }, 2, 2)).toThrow(/must rise/);
  expect(() => fitPart({ part: 'x', few: 1, many: 1 }, 0, 2)).toThrow(/must rise/);
});

test('project sums the fits; speed-ups are over the measured time on the fewer threads', () => {
  const fits = [
    fitPart({ part: 'conv', few: 900, many: 450 }, 1, 2),
    fitPart({ part: 'copy', few: 100, many: 100 }, 1, 2),
  ];
  expect(serialShare(fits)).toBeCloseTo(0.1, 9);
  const p = project(fits, [2, 4, 16]);
  expect(p.map((x) => x.threads)).toEqual([2, 4, 16]);
  expect(p[0].ms).toBeCloseTo(550, 9); // the measured 2-thread time
  expect(p[1].ms).toBeCloseTo(325, 9);
  expect(p[2].ms).toBeCloseTo(156.25, 9);
  expect(p[2].speedup).toBeCloseTo(1000 / 156.25, 9); // Amdahl: 1 / (0.1 + 0.9 / 16)
  // A part that slowed down counts at its slower time from the larger count on.
  const slowed = project([fitPart({ part: 'copy', few: 100, many: 130 }, 1, 2)], [2, 16]);
  expect(slowed.map((x) => x.ms)).toEqual([130, 130]);
});
