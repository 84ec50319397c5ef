/**
 * How the onnxruntime engine's iteration should scale beyond the cores at hand: the iteration is
 * profiled on two thread counts (default 1 and every core), each operator type of each step and
 * the time outside kernels is fitted as serial + parallel / threads (bench/amdahl.ts), and the
 * fits give the iteration's time on more threads. Parts that do not speed up (single-threaded
 * copies, memory-bound work) are the serial share that bounds the scaling.
 *
 *   npx tsx bench/ortScaling.ts [--size 64|128|256] [--threads 1,2] [--project 4,8,16] [--runs 3] [--json]
 *
 * Each thread count's figures are medians over `--runs` profiled iterations after two warm-up ones.
 */
import * as os from 'node:os';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { fitPart, project, serialShare, type PartFit } from './amdahl';
import { configSizeField } from './networks';
import { modelRuns, summarizeRun } from './ortTrace';
import { withProfiledModel } from './profiledModel';

const OUTSIDE = 'outside kernels (feeds, fetches, pools, between runs)';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median ms per part (`<step> <category> · <op>`, and OUTSIDE) of `runs` iterations on `threads` threads. */
async function partTimes(size: number, threads: number, runs: number): Promise<Map<string, number>> {
  return withProfiledModel(size, threads, async ({ iterate, profile }) => {
    const warmup = 2;
    const wall: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      const ms = await iterate();
      if (i >= warmup) wall.push(ms);
    }
    const perRun: Map<string, number>[] = wall.map(() => new Map());
    for (const kind of ['G', 'D'] as const) {
      const events = profile(kind);
      modelRuns(events)
        .slice(-runs)
        .forEach((run, i) => {
          const s = summarizeRun(events, run);
          for (const cat of s.categories)
            for (const op of cat.ops) perRun[i].set(`${kind} ${cat.category} · ${op.op}`, op.ms);
        });
    }
    perRun.forEach((m, i) => m.set(OUTSIDE, wall[i] - [...m.values()].reduce((s, v) => s + v, 0)));
    const keys = new Set(perRun.flatMap((m) => [...m.keys()]));
    return new Map([...keys].map((k) => [k, median(perRun.map((m) => m.get(k) ?? 0))]));
  });
}

async function ortScaling(o: {
  size: '64' | '128' | '256';
  threads: number[];
  project: number[];
  runs: number;
  json: boolean;
}) {
  const [pFew, pMany] = o.threads;
  const size = Number(o.size);
  const few = await partTimes(size, pFew, o.runs);
  const many = await partTimes(size, pMany, o.runs);
  const fits: PartFit[] = [...new Set([...few.keys(), ...many.keys()])]
    .map((part) =>
      fitPart({ part, few: Math.max(0, few.get(part) ?? 0), many: Math.max(0, many.get(part) ?? 0) }, pFew, pMany),
    )
    .sort((a, b) => b.few - a.few);
  const projection = project(fits, [pMany, ...o.project]);
  const share = serialShare(fits);
  const measured = { [pFew]: fits.reduce((s, f) => s + f.few, 0), [pMany]: fits.reduce((s, f) => s + f.many, 0) };
  if (o.json) {
    console.log(
      JSON.stringify(
        { size, threads: [pFew, pMany], measured_ms: measured, serial_share: share, projection, parts: fits },
        null,
        2,
      ),
    );
    return;
  }
  const ms = (v: number) => v.toFixed(1).padStart(9);
  console.log(
    `iteration at ${size}², onnxruntime engine, one session: ${pFew} → ${pMany} threads (medians of ${o.runs} runs)`,
  );
  console.log(
    `${'part'.padEnd(70)}${`${pFew} thr`.padStart(9)}${`${pMany} thr`.padStart(9)}  speed-up   serial  parallel`,
  );
  for (const f of fits.filter((x) => x.few >= 0.005 * measured[pFew]))
    console.log(
      `${f.part.slice(0, 69).padEnd(70)}${ms(f.few)}${ms(f.many)}${(f.few / Math.max(f.many, 1e-9)).toFixed(2).padStart(9)}${ms(f.serial)}${ms(f.parallel)}`,
    );
  console.log(
    `${'all parts'.padEnd(70)}${ms(measured[pFew])}${ms(measured[pMany])}${(measured[pFew] / measured[pMany]).toFixed(2).padStart(9)}`,
  );
  console.log(`serial share at ${pFew} thread(s): ${(100 * share).toFixed(1)} %`);
  for (const p of projection)
    console.log(
      `  ${String(p.threads).padStart(3)} threads: ${(p.ms / 1000).toFixed(3)} s, ${p.speedup.toFixed(2)}× over ${pFew}`,
    );
}

runCommand(
  {
    name: 'bench/ortScaling',
    program: 'npx tsx bench/ortScaling.ts',
    summary:
      "How the onnxruntime engine's iteration scales with threads: per-operator serial and parallel time fitted " +
      'from profiles on two thread counts, and the iteration projected on more.',
    schema: z
      .object({
        size: configSizeField(),
        threads: field
          .intList(1)
          .default([1, os.availableParallelism()])
          .refine((t) => t.length === 2 && t[1] > t[0], 'must be two rising thread counts, e.g. 1,2')
          .describe('the two thread counts profiled'),
        project: field.intList(1).default([4, 8, 16]).describe('thread counts to project the iteration on'),
        runs: field.int(1).default(3).describe('profiled iterations per thread count (medians)'),
        json: field.boolean().default(false).describe('print JSON instead of tables'),
      })
      .strict(),
    exit: 'immediately',
  },
  ortScaling,
);
