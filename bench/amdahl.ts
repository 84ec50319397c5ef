/**
 * Amdahl's law per operator: each part of an iteration (an operator type in a step's category, or
 * the time outside kernels) is fitted as t(p) = serial + parallel / p from its times at two thread
 * counts, and the fitted parts summed give the iteration's time on thread counts not measured
 * (bench/ortScaling.ts). A part that got no faster with more threads counts as wholly serial at
 * its time on the larger count: contention for memory bandwidth or caches is charged as serial
 * work, so the projection errs low where the machine's bandwidth grows with its cores.
 */

export interface PartTimes {
  part: string;
  /** Milliseconds at the fewer threads. */
  few: number;
  /** Milliseconds at the more threads. */
  many: number;
}

export interface PartFit extends PartTimes {
  serial: number;
  parallel: number;
}

/** t(p) = serial + parallel / p through (pFew, few) and (pMany, many), both terms clamped at 0. */
export function fitPart(t: PartTimes, pFew: number, pMany: number): PartFit {
  if (!(pMany > pFew && pFew >= 1))
    throw new Error(`thread counts must rise from at least 1, got ${pFew} and ${pMany}`);
  const parallel = (t.few - t.many) / (1 / pFew - 1 / pMany);
  if (parallel <= 0) return { ...t, serial: t.many, parallel: 0 };
  const serial = t.few - parallel / pFew;
  if (serial < 0) return { ...t, serial: 0, parallel: t.many * pMany };
  return { ...t, serial, parallel };
}

export interface Projection {
  threads: number;
  ms: number;
  /** Speed-up over the fewer measured threads. */
  speedup: number;
}

/**
 * The summed fits' time on each of `threads` (at least the larger measured count: below it a
 * clamped part's fit is not its measured time), and its speed-up over the measured time on the
 * fewer threads.
 */
export function project(fits: PartFit[], threads: number[]): Projection[] {
  const base = fits.reduce((s, f) => s + f.few, 0);
  return threads.map((p) => {
    const ms = fits.reduce((s, f) => s + f.serial + f.parallel / p, 0);
    return { threads: p, ms, speedup: base / ms };
  });
}

/** The serial terms' share of the measured time on the fewer threads. */
export function serialShare(fits: PartFit[]): number {
  return fits.reduce((s, f) => s + f.serial, 0) / fits.reduce((s, f) => s + f.few, 0);
}
