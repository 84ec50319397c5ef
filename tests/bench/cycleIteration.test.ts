/**
 * bench/cycleIteration.ts, the process `npm run bench -- --vs-torch` times our side in: one JSON line
 * with the iteration's seconds and the process's peak memory, in either onnxruntime worker layout;
 * a bad option is one line and exit 2.
 */
import { benchScript, expectCommandLineError } from '../helpers/benchScript';

const run = benchScript('cycleIteration.ts', 120_000);

test('times the 64² configuration on the onnxruntime engine and reports its peak resident memory', () => {
  const r = run('--size', '64', '--threads', '1', '--reps', '1');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as { s: number; peak_rss_mb: number };
  expect(Object.keys(out).sort()).toEqual(['peak_rss_mb', 's']);
  expect(out.s).toBeGreaterThan(0);
  // Node, onnxruntime and the 64² step sessions: well above an empty Node process, far below the machine.
  expect(out.peak_rss_mb).toBeGreaterThan(150);
  expect(out.peak_rss_mb).toBeLessThan(4096);
});

test('--workers 2 times two onnxruntime workers: the process holds both, more memory than one session', () => {
  const peak = (workers: string) => {
    const r = run('--size', '64', '--threads', '2', '--reps', '1', '--workers', workers);
    expect(r.status).toBe(0);
    return (JSON.parse(r.stdout) as { peak_rss_mb: number }).peak_rss_mb;
  };
  expect(peak('2')).toBeGreaterThan(peak('1') + 100);
});

test.each([
  ['a size without a configuration', ['--size', '100'], /--size/],
  ['a worker count other than 1, 2 or auto', ['--size', '64', '--workers', '3'], /--workers/],
])('%s is a command-line error', (_what, args, named) => {
  expectCommandLineError(run(...args), named);
});
