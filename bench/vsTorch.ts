/**
 * `npm run bench -- --vs-torch`: this trainer beside PyTorch on the same machine state, in one run.
 * For each configuration (64², ngf 32, 6 blocks; 128², ngf 64, 9 blocks; ndf 64, batch 1) and each
 * round, PyTorch's iteration (tools/bench_torch.py with torch.set_num_threads = the cores this process
 * may use) and ours (wasm, `--workers auto`: worker layout and XNNPACK threads as training would pick)
 * are timed back to back, so both see the same machine load; the ratio ours/PyTorch is reported per
 * round and as the median over rounds. Needs a Python with torch (Debian's python3-torch); never run in CI.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveWorkers } from '../train/trainingModel';
import { wasmThreadsPerWorker } from '../train/parallel/parallelTrainingModel';
import { CONFIGS, cycleIteration } from './networks';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** PyTorch's seconds per iteration at `size` with `threads` threads (tools/bench_torch.py). */
function torchIteration(python: string, size: number, threads: number, iters: number): number {
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
  const row = (JSON.parse(r.stdout) as { results: Record<string, number>[] }).results[0];
  const key = Object.keys(row).find((k) => k.startsWith(`cycle_iter_s_${size}_`));
  if (!key) throw new Error(`tools/bench_torch.py printed no ${size}² figure`);
  return row[key];
}

export async function benchVsTorch(o: { python: string; rounds: number; reps: number; sizes: number[] }) {
  const unknown = o.sizes.filter((s) => !CONFIGS.some((c) => c.size === s));
  if (unknown.length > 0) throw new Error(`--sizes: no configuration for ${unknown.join(', ')} (have 64, 128)`);
  const cores = os.availableParallelism();
  const workers = resolveWorkers({ norm: 'instance' }, 'wasm');
  const layout = {
    cores,
    torch_threads: cores,
    workers,
    xnnpack_threads_per_worker: workers === 2 ? wasmThreadsPerWorker(cores) : 1,
  };
  process.stderr.write(`vs-torch: ${JSON.stringify(layout)}\n`);
  const rows = [];
  for (const c of CONFIGS.filter((x) => o.sizes.includes(x.size))) {
    const rounds: { torch_s: number; ours_s: number; ratio: number }[] = [];
    for (let r = 0; r < o.rounds; r++) {
      // PyTorch's own script times `iters` iterations after 2 warm-up ones; ours the median of `reps` after 1.
      const torchS = torchIteration(o.python, c.size, cores, c.size === 64 ? 4 * o.reps : o.reps);
      const oursS = await cycleIteration(c, o.reps, workers);
      const row = { torch_s: +torchS.toFixed(3), ours_s: oursS, ratio: +(oursS / torchS).toFixed(2) };
      process.stderr.write(`vs-torch ${c.size}² round ${r + 1}: ${JSON.stringify(row)}\n`);
      rounds.push(row);
    }
    rows.push({
      size: c.size,
      ngf: c.ngf,
      n_blocks: c.nBlocks,
      ndf: c.ndf,
      batch_size: 1,
      rounds,
      median_ratio: median(rounds.map((x) => x.ratio)),
    });
  }
  return { layout, configs: rows };
}
