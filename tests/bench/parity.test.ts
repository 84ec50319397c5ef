/** bench/parity.ts: the summary table (t intervals, Welch differences to PyTorch), the run plan and the plot. */
import sharp from 'sharp';
import { epochsOf, learningCurveSvg, parityTable, tableMarkdown, type ParityRun } from '../../bench/parity';
import { meanInterval, welchInterval } from '../../bench/parityStats';

function run(system: ParityRun['system'], seed: number, atob: number, btoa: number): ParityRun {
  const scores = (p: number, q: number) => ({ AtoB: { psnr: p, ssim: p / 100 }, BtoA: { psnr: q, ssim: q / 100 } });
  return {
    system,
    seed,
    seconds: 20,
    points: [
      { iter: 100, scores: scores(atob - 3, btoa - 3) },
      { iter: 200, scores: scores(atob, btoa) },
    ],
  };
}

const torchA = [20, 21, 19, 22];
const ortA = [19, 20, 18, 20.5];
const runs = [
  ...torchA.map((x, i) => run('pytorch', i + 1, x, 30 + i)),
  ...ortA.map((x, i) => run('onnxruntime', i + 1, x, 30 - i)),
];

test('rows: the last checkpoint per system and direction, PyTorch itself without a difference', () => {
  const rows = parityTable(runs);
  expect(rows.map((r) => `${r.system} ${r.direction}`)).toEqual([
    'onnxruntime AtoB',
    'onnxruntime BtoA',
    'pytorch AtoB',
    'pytorch BtoA',
  ]);
  const ort = rows[0];
  const m = meanInterval(ortA);
  expect(ort.psnr).toEqual({ mean: m.mean, half: m.half, sd: m.sd });
  const w = welchInterval(ortA, torchA);
  expect(ort.vsTorch!.psnr).toEqual({ diff: w.diff, half: w.half });
  expect(ort.vsTorch!.ssim.diff).toBeCloseTo(w.diff / 100, 12);
  expect(ort.secondsPerIter).toBe(0.1);
  expect(rows[2].vsTorch).toBeUndefined();
  // A system with one seed has no interval and is left out.
  expect(parityTable([...runs, run('tfjs', 1, 20, 30)]).some((r) => r.system === 'tfjs')).toBe(false);
  const md = tableMarkdown(rows);
  expect(md).toContain(`| onnxruntime | AtoB | 4 | ${m.mean.toFixed(2)} ± ${m.half.toFixed(2)} |`);
  expect(md).toContain(`−${Math.abs(w.diff).toFixed(2)} ± ${w.half.toFixed(2)}`);
});

test('the plot renders as a PNG with both panels', async () => {
  const svg = learningCurveSvg(runs, 'test');
  expect(svg).toContain('AtoB (G_A)');
  expect(svg).toContain('BtoA (G_B)');
  const meta = await sharp(await sharp(Buffer.from(svg)).png().toBuffer()).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(['png', 900, 420]);
});

test('the run plan: epochs of --n iterations, half decaying; bad combinations are clear errors', () => {
  expect(epochsOf({ iters: 1000, n: 100, eval_every: 200, size: 24 })).toEqual({ epochs: 10, saveEvery: 2 });
  expect(() => epochsOf({ iters: 900, n: 100, eval_every: 100, size: 24 })).toThrow('multiple of 2·--n');
  expect(() => epochsOf({ iters: 1000, n: 100, eval_every: 150, size: 24 })).toThrow('--eval_every 150');
  expect(() => epochsOf({ iters: 1000, n: 100, eval_every: 200, size: 26 })).toThrow('multiple of 4');
});
