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
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { BACKENDS } from '../core/config/options';
import { initBackend } from '../core/tf/backend';
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
  runCommand(
    {
      name: 'bench/learn',
      program: 'npx tsx bench/learn.ts',
      summary: 'PSNR/SSIM over iterations on the synthetic shapes task vs. the identity baseline; prints JSON.',
      schema: z
        .object({
          iters: field.int(1).default(1000).describe('training iterations'),
          eval_every: field.int(1).default(200).describe('evaluate every n iterations'),
          backend: field.enum(BACKENDS).default('wasm').describe('tfjs backend'),
        })
        .strict(),
      exit: 'immediately',
    },
    async (o) => {
      await initBackend(o.backend);
      console.log(JSON.stringify(await benchLearning(o.iters, o.eval_every), null, 2));
    },
  );
}
