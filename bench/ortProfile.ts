/**
 * Where one CycleGAN iteration's time goes on the onnxruntime engine (train/onnx): the engine runs
 * with onnxruntime's profiler on its step sessions for `--warmup` iterations and once more; that
 * last, steady-state run of the generator-step and discriminator-step graphs is summed by
 * kernel (bench/ortTrace.ts): forward convolutions and products, input gradients (`/dx`), weight
 * gradients (`/dW`, `/db`), Adam, the rest by operator type, and kernel time against wall time.
 *
 *   npx tsx bench/ortProfile.ts [--size 64|128] [--threads N] [--warmup 2] [--top 6] [--json]
 *
 * Profiling adds a little time per node; the totals are for finding where time goes, the
 * iteration times come from `npm run bench`.
 */
import * as os from 'node:os';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { configSizeField } from './networks';
import { formatSummary, summarizeLastRun } from './ortTrace';
import { withProfiledModel } from './profiledModel';

async function ortProfile(o: {
  size: '64' | '128' | '256';
  threads?: number;
  warmup: number;
  top: number;
  json: boolean;
}) {
  const threads = o.threads ?? os.availableParallelism();
  await withProfiledModel(Number(o.size), threads, async ({ config: c, model, iterate, profile }) => {
    for (let i = 0; i <= o.warmup; i++) await iterate();
    const summaries = (['G', 'D'] as const).map((kind) => ({
      kind,
      summary: summarizeLastRun(profile(kind)),
      wall_ms: model.lastRunMs[kind],
    }));
    const config = `${c.size}², ngf ${c.ngf}, ${c.nBlocks} blocks, ndf ${c.ndf}, ${threads} intra-op thread(s)`;
    if (o.json) {
      console.log(
        JSON.stringify(
          { size: c.size, ngf: c.ngf, n_blocks: c.nBlocks, ndf: c.ndf, threads, steps: summaries },
          null,
          2,
        ),
      );
      return;
    }
    const names = { G: 'generator step', D: 'discriminator step' };
    for (const s of summaries)
      console.log(
        `${formatSummary(`${names[s.kind]} (${config}), run ${o.warmup + 1}`, s.summary, s.wall_ms, o.top)}\n`,
      );
  });
}

runCommand(
  {
    name: 'bench/ortProfile',
    program: 'npx tsx bench/ortProfile.ts',
    summary:
      "Where one CycleGAN iteration's time goes on the onnxruntime engine, by kernel category and operator " +
      '(generator and discriminator step); prints tables.',
    schema: z
      .object({
        size: configSizeField(),
        threads: field.int(1).optional().describe('onnxruntime intra-op threads; default every core'),
        warmup: field.int(0).default(2).describe('iterations before the profiled one'),
        top: field.int(0).default(6).describe('operator types listed per category'),
        json: field.boolean().default(false).describe('print JSON instead of tables'),
      })
      .strict(),
    exit: 'immediately',
  },
  ortProfile,
);
