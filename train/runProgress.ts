/**
 * What the training progress bar shows: the position in the whole run (every epoch up to
 * n_epochs + n_epochs_decay, or --max_iters if that comes first), the speed of this process's own
 * iterations (a resumed run starts counting where it resumed, not at the checkpoint's position) and
 * the time left for the whole run at that speed.
 */
import type { TrainOptions } from './trainOptions';

/** Iterations in the whole run, counted like the checkpoints' totalIters. */
export function runIterations(
  o: Pick<TrainOptions, 'n_epochs' | 'n_epochs_decay' | 'epoch_count' | 'max_iters'>,
  itersPerEpoch: number,
): number {
  const epochs = Math.max(0, o.n_epochs + o.n_epochs_decay - o.epoch_count + 1);
  return Math.min(o.max_iters ?? Infinity, epochs * itersPerEpoch);
}

/** `h:mm:ss` (or `m:ss` under an hour); `-` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export class RunProgress {
  private first: { iters: number; ms: number } | null = null;

  constructor(readonly total: number) {}

  /** After an iteration: `totalIters` done in the run so far, at time `nowMs`. */
  update(totalIters: number, nowMs: number): { speed: string; eta: string } {
    // The first iteration of this process includes session start-up: timing starts after it.
    if (!this.first) {
      this.first = { iters: totalIters, ms: nowMs };
      return { speed: '-', eta: '-' };
    }
    const done = totalIters - this.first.iters;
    const secs = (nowMs - this.first.ms) / 1000;
    if (done <= 0 || secs <= 0) return { speed: '-', eta: '-' };
    const perSec = done / secs;
    return { speed: perSec.toFixed(2), eta: formatDuration(Math.max(0, this.total - totalIters) / perSec) };
  }
}
