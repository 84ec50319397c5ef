/**
 * `npm run bench -- --vs-torch`: this trainer beside PyTorch on the same machine state, in one run.
 * For each configuration (64², ngf 32, 6 blocks; 128², ngf 64, 9 blocks; ndf 64, batch 1), each
 * round and each thread count (default: the cores this process may use), PyTorch's iteration
 * (tools/bench_torch.py with torch.set_num_threads = threads) and ours on each engine with the same
 * threads (bench/networks.ts benchPlan: onnxruntime intra-op threads, or tfjs' worker layout) are
 * timed back to back, so all see the same machine load, each in a process of its own
 * (bench/cycleIteration.ts for ours). Reported: the ratio ours/PyTorch per round (with the 1-minute
 * load average: other processes skew both) and its median over rounds, each process's peak
 * resident memory, and with several thread counts each engine's speed-up over the fewest. With
 * `--workers 1,2` the onnxruntime engine is timed in both layouts (one session, two workers). Needs a
 * Python with torch (Debian's python3-torch); never run in CI.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EnginePlan } from '../train/engines';
import { benchPlan, CONFIGS, planReport, type Config, type Engine } from './networks';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One iteration's median seconds and its process's peak resident memory (MB). */
interface Measured {
  s: number;
  peak_rss_mb: number;
}

/** PyTorch's seconds per iteration at `size` with `threads` threads (tools/bench_torch.py). */
function torchIteration(python: string, size: number, threads: number, iters: number): Measured {
  const script = path.join(__dirname, '..', 'tools', 'bench_torch.py');
  const args = [
    script,
    '--threads',
    String(threads),
    '--iters',
    String(iters),
    '--sizes',
    String(size),
    '--no-forward',
  ];
  const r = spawnSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? r.stderr.trim().split('\n').pop();
    throw new Error(`${python} tools/bench_torch.py failed (${why}); --vs-torch needs a Python with torch`);
  }
  const out = JSON.parse(r.stdout) as { results: Record<string, number>[]; peak_rss_mb: number };
  const row = out.results[0];
  const key = Object.keys(row).find((k) => k.startsWith(`cycle_iter_s_${size}_`));
  if (!key) throw new Error(`tools/bench_torch.py printed no ${size}² figure`);
  return { s: row[key], peak_rss_mb: out.peak_rss_mb };
}

/** What is timed beside PyTorch: an engine, for onnxruntime in a given worker layout (default: as auto picks). */
interface Variant {
  engine: Engine;
  workers?: 1 | 2;
  /** Its column prefix: `onnxruntime`, `onnxruntime_w2`, `tfjs`. */
  key: string;
}

function variants(engines: Engine[], workers?: (1 | 2)[]): Variant[] {
  return engines.flatMap((engine): Variant[] =>
    engine === 'onnxruntime' && workers
      ? workers.map((w) => ({ engine, workers: w, key: `${engine}_w${w}` }))
      : [{ engine, key: engine }],
  );
}

/** Our iteration of `v` at `c` with `threads`, in a process of its own (bench/cycleIteration.ts), as PyTorch's is. */
function ourIteration(c: Config, v: Variant, threads: number, reps: number): Measured {
  const script = path.join(__dirname, 'cycleIteration.ts');
  const args = ['--size', c.size, '--engine', v.engine, '--threads', threads, '--reps', reps].map(String);
  if (v.workers) args.push('--workers', String(v.workers));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.error || r.status !== 0)
    throw new Error(`bench/cycleIteration.ts failed (${r.error?.message ?? `exit ${r.status}`})`);
  return JSON.parse(r.stdout) as Measured;
}

export interface VsTorchOptions {
  python: string;
  rounds: number;
  reps: number;
  sizes: number[];
  engines: Engine[];
  /** Thread counts to measure at (PyTorch and every engine alike); default: every core. */
  threads?: number[];
  /** onnxruntime worker layouts to time, each beside PyTorch; default: the one --workers auto picks. */
  workers?: (1 | 2)[];
}

type Round = Record<string, number>;

export async function benchVsTorch(o: VsTorchOptions) {
  const unknown = o.sizes.filter((s) => !CONFIGS.some((c) => c.size === s));
  if (unknown.length > 0) throw new Error(`--sizes: no configuration for ${unknown.join(', ')} (have 64, 128, 256)`);
  const cores = os.availableParallelism();
  const threads = [...new Set(o.threads ?? [cores])].sort((a, b) => a - b);
  const machine = { cores, load_average: os.loadavg().map((x) => +x.toFixed(2)) };
  process.stderr.write(`vs-torch: ${JSON.stringify(machine)}\n`);
  const rows = [];
  for (const c of CONFIGS.filter((x) => o.sizes.includes(x.size))) {
    const timed = variants(o.engines, o.workers);
    const plans = new Map<number, EnginePlan[]>(
      threads.map((t) => [t, timed.map((v) => benchPlan(c, v.engine, t, 'wasm', v.workers))]),
    );
    const rounds = new Map<number, Round[]>(threads.map((t) => [t, []]));
    for (let r = 0; r < o.rounds; r++) {
      for (const t of threads) {
        // PyTorch times `iters` iterations (a quarter at 128²) after 2 warm-up ones; ours the median of `reps` after 1.
        const torch = torchIteration(o.python, c.size, t, 4 * o.reps);
        const row: Round = {
          load_1m: +os.loadavg()[0].toFixed(2),
          torch_s: +torch.s.toFixed(3),
          torch_peak_mb: torch.peak_rss_mb,
        };
        for (const v of timed) {
          const ours = ourIteration(c, v, t, o.reps);
          row[`${v.key}_s`] = ours.s;
          row[`${v.key}_ratio`] = +(ours.s / torch.s).toFixed(2);
          row[`${v.key}_peak_mb`] = ours.peak_rss_mb;
        }
        process.stderr.write(`vs-torch ${c.size}² ${t} thread(s) round ${r + 1}: ${JSON.stringify(row)}\n`);
        rounds.get(t)!.push(row);
      }
    }
    const medianOf = (t: number, k: string) => median(rounds.get(t)!.map((x) => x[k]));
    const base = threads[0];
    const keys = timed.map((v) => v.key);
    const columns = ['torch', ...keys];
    const byThreads = threads.map((t) => ({
      threads: t,
      torch_threads: t,
      engines: plans.get(t)!.map(planReport),
      rounds: rounds.get(t)!,
      median_s: Object.fromEntries(columns.map((e) => [e, medianOf(t, `${e}_s`)])),
      median_ratio: Object.fromEntries(keys.map((e) => [e, medianOf(t, `${e}_ratio`)])),
      median_peak_rss_mb: Object.fromEntries(columns.map((e) => [e, medianOf(t, `${e}_peak_mb`)])),
      ...(t === base
        ? {}
        : {
            [`speedup_over_${base}_thread${base === 1 ? '' : 's'}`]: Object.fromEntries(
              columns.map((e) => [e, +(medianOf(base, `${e}_s`) / medianOf(t, `${e}_s`)).toFixed(2)]),
            ),
          }),
    }));
    rows.push({ size: c.size, ngf: c.ngf, n_blocks: c.nBlocks, ndf: c.ndf, batch_size: 1, by_threads: byThreads });
  }
  return { machine, configs: rows };
}
