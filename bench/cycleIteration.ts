/**
 * One bench configuration's training iteration on one engine, in a process of its own (as
 * tools/bench_torch.py is for PyTorch), so its peak resident memory is the iteration's alone:
 * prints `{"s": median seconds per iteration, "peak_rss_mb": VmHWM}` (bench/vsTorch.ts runs it).
 *
 *   npx tsx bench/cycleIteration.ts --size 128 --engine onnxruntime --threads 2 --reps 3 [--norm batch] [--workers 1]
 *   npx tsx bench/cycleIteration.ts --size 64 --engine tfjs --backend webgpu   # tfjs on a WebGPU adapter
 */
import * as os from 'node:os';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { initBackend } from '../core/tf/backend';
import { benchPlan, CONFIGS, configSizeField, cycleIteration, ENGINES } from './networks';
import { procMemoryMb } from './processMemory';

runCommand(
  {
    name: 'bench/cycleIteration',
    program: 'npx tsx bench/cycleIteration.ts',
    summary:
      "One bench configuration's training iteration, timed in its own process, with the process's peak memory (JSON).",
    schema: z
      .object({
        size: configSizeField(),
        engine: field.enum(ENGINES).default('onnxruntime').describe('training engine'),
        backend: field
          .enum(['wasm', 'webgpu'] as const)
          .default('wasm')
          .describe('tfjs engine: its backend (webgpu takes any adapter, a software one included)'),
        threads: field.int(1).optional().describe('cores the engine may use; default every core'),
        reps: field.int(1).default(3).describe('timed iterations after one warm-up (median)'),
        workers: field
          .enum(['auto', '1', '2'] as const)
          .default('auto')
          .describe(
            'onnxruntime engine: 2 workers of half the threads each, or 1 with them all (auto: as the trainer picks)',
          ),
        norm: field
          .enum(['instance', 'batch'] as const)
          .default('instance')
          .describe('normalisation layers'),
      })
      .strict(),
    exit: 'immediately',
  },
  async (o) => {
    const c = { ...CONFIGS.find((x) => x.size === Number(o.size))!, norm: o.norm };
    if (o.engine === 'tfjs') await initBackend(o.backend);
    const s = await cycleIteration(
      c,
      o.reps,
      benchPlan(
        c,
        o.engine,
        o.threads ?? os.availableParallelism(),
        o.engine === 'tfjs' ? o.backend : 'wasm',
        o.workers === 'auto' ? 'auto' : (Number(o.workers) as 1 | 2),
      ),
    );
    console.log(JSON.stringify({ s, peak_rss_mb: Math.round(procMemoryMb('self', 'VmHWM')) }));
  },
);
