/**
 * `npm run bench` part 2: the shapes task run longer than the test does — PSNR and SSIM of
 * G_A(testA) / G_B(testB) against the known truth over iterations, beside the identity baseline —
 * and the share of each training step spent waiting for data.
 *
 *   npx tsx bench/learn.ts [--iters 1000] [--eval_every 200] [--backend wasm]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend, parseBackendChoice } from '../core/tf/backend';
import { runShapesExperiment } from '../tools/shapesExperiment';

export async function benchLearning(iters: number, evalEvery: number) {
  const root = mkdtempSync(path.join(tmpdir(), 'bench-learn-'));
  try {
    const epochIters = 200; // n = 200 training images per domain
    const r = await runShapesExperiment({
      root,
      iters,
      evalEvery,
      // Full rate for most of the run, linear decay over the last epoch-sized stretch.
      train: {
        netG: 'resnet_2blocks',
        ngf: 8,
        ndf: 16,
        n_epochs: Math.max(1, Math.ceil(iters / epochIters) - 1),
        n_epochs_decay: 2,
      },
      log: (m) => process.stderr.write(`${m}\n`),
    });
    return {
      task: 'shapes 32×32 (palette P → Q), resnet_2blocks ngf 8, basic D ndf 16, batch 1',
      baseline: r.baseline,
      points: r.points,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const o = new Command()
    .option('--iters <n>', 'training iterations', '1000')
    .option('--eval_every <n>', 'evaluate every n iterations', '200')
    .option('--backend <name>', 'tfjs backend', 'wasm')
    .parse()
    .opts<{ iters: string; eval_every: string; backend: string }>();
  initBackend(parseBackendChoice(o.backend))
    .then(() => benchLearning(Number(o.iters), Number(o.eval_every)))
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((e) => {
      console.error(`error: ${(e as Error).message}`);
      process.exit(1);
    });
}
