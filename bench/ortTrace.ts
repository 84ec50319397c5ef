/**
 * Where one onnxruntime session run spends its time, from the profile onnxruntime writes with
 * `enableProfiling` (Chrome trace JSON): the kernel times of the last `model_run`, grouped by what
 * the training-step graphs' node names say the node computes (train/onnx scopes: `…/dx` input
 * gradients, `…/dW` and `…/db` weight and bias gradients, `adam/…` the optimiser and the copies
 * of its results to the graph outputs `new/…`, `new_m/…`, `new_v/…`) and, within each group, by
 * operator type. Nodes without such a scope count as forward.
 */

import { readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { OrtSession } from '../core/onnx/ortRuntime';

/** One trace event as onnxruntime's CPU profiler writes it (times in µs). */
export interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** Operators that do a convolution's or matrix product's arithmetic (NCHWc and fused forms included). */
const PRODUCT_OPS = new Set([
  'Conv',
  'FusedConv',
  'NhwcFusedConv',
  'ConvTranspose',
  'Gemm',
  'FusedGemm',
  'MatMul',
  'FusedMatMul',
]);

export const CATEGORIES = [
  'forward: conv/gemm',
  'forward: other',
  'input gradient (/dx): conv/gemm',
  'input gradient (/dx): other',
  'weight gradient (/dW, /db): conv/gemm',
  'weight gradient (/dW, /db): other',
  'Adam (adam/, new/ outputs)',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** The category of a node, from its name (scopes) and operator type. */
export function categorize(node: string, op: string): Category {
  if (node.includes('adam/') || /^\/new(_[mv])?\//.test(node)) return 'Adam (adam/, new/ outputs)';
  const part = PRODUCT_OPS.has(op) ? 'conv/gemm' : 'other';
  if (/\/d[Wb]\//.test(node)) return `weight gradient (/dW, /db): ${part}`;
  if (/\/dx\//.test(node)) return `input gradient (/dx): ${part}`;
  return `forward: ${part}`;
}

export interface OpTime {
  op: string;
  ms: number;
  nodes: number;
}

export interface RunSummary {
  /** The run's duration as the session measured it (`model_run`). */
  run_ms: number;
  /** Sum of its kernels' times (sequential execution: kernels never overlap). */
  kernel_ms: number;
  categories: { category: Category; ms: number; ops: OpTime[] }[];
}

/**
 * Ends the profiling of `session` (created with `enableProfiling` and `profileFilePrefix: prefix`)
 * and returns its events. onnxruntime-node's endProfiling() does not say where it wrote them: the
 * file is `<prefix>_<date and time>.json`; it is read and deleted.
 */
export function takeProfile(session: OrtSession, prefix: string): TraceEvent[] {
  session.endProfiling();
  const dir = path.dirname(prefix);
  const stem = `${path.basename(prefix)}_`;
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(stem) && f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`onnxruntime wrote no profile ${prefix}_*.json`);
  const file = path.join(dir, files[files.length - 1]);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
  } finally {
    rmSync(file, { force: true });
  }
}

/** The `model_run` events of `events`, oldest first. */
export function modelRuns(events: TraceEvent[]): TraceEvent[] {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  if (runs.length === 0) throw new Error('the onnxruntime profile has no model_run event');
  return runs;
}

/** The kernel times of the last `model_run` in `events`, by category and operator type (costliest first). */
export function summarizeLastRun(events: TraceEvent[]): RunSummary {
  return summarizeRun(events, modelRuns(events).at(-1)!);
}

/** The kernel times within `run` (one of `events`' model_run events), by category and operator type. */
export function summarizeRun(events: TraceEvent[], run: TraceEvent): RunSummary {
  const kernels = events.filter(
    (e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= run.ts && e.ts <= run.ts + run.dur,
  );
  const byCategory = new Map<Category, Map<string, OpTime>>();
  let kernelUs = 0;
  for (const e of kernels) {
    const op = e.args?.op_name ?? '?';
    const category = categorize(e.name.slice(0, -'_kernel_time'.length), op);
    const ops = byCategory.get(category) ?? new Map<string, OpTime>();
    const t = ops.get(op) ?? { op, ms: 0, nodes: 0 };
    t.ms += e.dur / 1000;
    t.nodes++;
    ops.set(op, t);
    byCategory.set(category, ops);
    kernelUs += e.dur;
  }
  const categories = [...byCategory]
    .map(([category, ops]) => {
      const list = [...ops.values()].sort((a, b) => b.ms - a.ms);
      return { category, ms: list.reduce((s, o) => s + o.ms, 0), ops: list };
    })
    .sort((a, b) => b.ms - a.ms);
  return { run_ms: run.dur / 1000, kernel_ms: kernelUs / 1000, categories };
}

/**
 * A text table of `s`: each category's ms and share of kernel time, its `top` costliest operator
 * types beneath it, then kernel time against the run's time (and `wallMs`, the caller's measure of
 * the whole `session.run` call, feeds and fetches included).
 */
export function formatSummary(title: string, s: RunSummary, wallMs: number, top: number): string {
  const pct = (ms: number, of: number) => `${((100 * ms) / of).toFixed(1)} %`;
  const lines: string[] = [title];
  const row = (label: string, ms: number, share: string) =>
    lines.push(`  ${label.padEnd(44)}${ms.toFixed(1).padStart(10)} ms${share.padStart(9)}`);
  for (const c of s.categories) {
    row(c.category, c.ms, pct(c.ms, s.kernel_ms));
    for (const o of c.ops.slice(0, top)) row(`    ${o.op} (${o.nodes})`, o.ms, pct(o.ms, s.kernel_ms));
    const rest = c.ops.slice(top);
    if (rest.length > 0) {
      const ms = rest.reduce((x, o) => x + o.ms, 0);
      row(`    ${rest.length} more op types`, ms, pct(ms, s.kernel_ms));
    }
  }
  row('kernels, total', s.kernel_ms, '100 %');
  row('session run (model_run)', s.run_ms, '');
  row('session.run() wall time', wallMs, '');
  lines.push(
    `  kernel time is ${pct(s.kernel_ms, s.run_ms)} of model_run and ${pct(s.kernel_ms, wallMs)} of the wall time`,
  );
  return lines.join('\n');
}
