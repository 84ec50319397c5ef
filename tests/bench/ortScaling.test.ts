/**
 * bench/ortScaling.ts: profiles the 64² iteration on two thread counts and projects it on more
 * (JSON), consistent with its own fits; bad thread lists are one line and exit 2.
 */
import { benchScript, expectCommandLineError } from '../helpers/benchScript';

const run = benchScript('ortScaling.ts', 240_000);

test('fits every profiled part and projects the iteration from them', () => {
  const r = run('--size', '64', '--threads', '1,2', '--project', '4,16', '--runs', '1', '--json');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as {
    measured_ms: Record<string, number>;
    serial_share: number;
    projection: { threads: number; ms: number; speedup: number }[];
    parts: { part: string; few: number; many: number; serial: number; parallel: number }[];
  };
  const parts = out.parts.map((p) => p.part);
  // Both steps' products and the time outside kernels are among the parts.
  expect(parts).toContain('G forward: conv/gemm · Conv');
  expect(parts).toContain('D weight gradient (/dW, /db): conv/gemm · Gemm');
  expect(parts.some((p) => p.startsWith('outside kernels'))).toBe(true);
  const sum = (k: 'few' | 'many') => out.parts.reduce((s, p) => s + p[k], 0);
  expect(out.measured_ms['1']).toBeCloseTo(sum('few'), 6);
  expect(out.measured_ms['2']).toBeCloseTo(sum('many'), 6);
  expect(out.projection.map((p) => p.threads)).toEqual([2, 4, 16]);
  expect(out.projection[0].ms).toBeCloseTo(sum('many'), 6);
  // More threads never cost more under the fit; the serial share bounds the speed-up.
  expect(out.projection[2].ms).toBeLessThanOrEqual(out.projection[1].ms);
  expect(out.serial_share).toBeGreaterThan(0);
  expect(out.projection[2].speedup).toBeLessThanOrEqual(1 / out.serial_share + 1e-9);
});

test.each([
  ['falling thread counts', ['--threads', '2,1'], /--threads/],
  ['one thread count', ['--threads', '2'], /--threads/],
  ['a size without a configuration', ['--size', '100'], /--size/],
])('%s is a command-line error', (_what, args, named) => {
  expectCommandLineError(run(...args), named);
});
