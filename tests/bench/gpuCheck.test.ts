/**
 * bench/gpuCheck.ts (`npm run gpu:check`): without an adapter one JSON line says why and the exit is
 * clean; `--dry-run` runs every part on the CPU, so the script is known to work before a GPU is found.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { webgpu } from '../helpers/backends';

const ROOT = path.join(__dirname, '..', '..');
const check = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'bench/gpuCheck.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });

(webgpu.found ? test.skip : test)('without an adapter: one JSON line with the reason, exit 0, no noise', () => {
  const r = check();
  expect(r.status).toBe(0);
  expect(r.stderr).toBe('');
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const out = JSON.parse(lines[0]);
  expect(out).toMatchObject({ webgpu: false, measured: {} });
  expect(out.reason).toBe(webgpu.found ? '' : webgpu.reason);
});

test('--dry-run: every part runs on the CPU and reports its figures without errors', () => {
  const r = check('--dry-run', '--quick');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out).toMatchObject({ webgpu: false, dry_run: true });
  const { tfjs, ort, serve, train, scaling } = out.measured;
  expect(JSON.stringify(out.measured)).not.toMatch(/"error"/);
  expect(tfjs.iteration_32.iteration_s).toBeGreaterThan(0);
  expect(tfjs.iteration_32_losses_read_every_iteration.iteration_s).toBeGreaterThan(0);
  expect(tfjs.iteration_32_pool_size_0.iteration_s).toBeGreaterThan(0);
  expect(tfjs.G_forward_32_batch8_ms).toBeGreaterThan(0);
  for (const key of ['fp32_NCHW', 'fp32_NHWC', 'fp16_NCHW', 'fp16_NHWC']) {
    expect(ort[key].batch_1.images_per_s).toBeGreaterThan(0);
    expect(ort[key].parity_vs_cpu.max_grey_levels).toBeLessThanOrEqual(key.startsWith('fp32') ? 0 : 3);
  }
  expect(train.iteration_32.iteration_s).toBeGreaterThan(0);
  expect(Object.keys(scaling.workers)).toEqual(['workers_1', 'workers_2']);
  expect(serve.http.map((h: { connections: number }) => h.connections)).toEqual([1, 32]);
  for (const h of serve.http) expect([h.connections, h.failures, h.requests > 0]).toEqual([h.connections, 0, true]);
});
