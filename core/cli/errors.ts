/**
 * Exit statuses and error messages shared by every command line of the project. Messages follow
 * sharp's convention: the parameter, what was expected, what was given.
 */
export const EXIT = {
  ok: 0,
  /** The command could not do its job (missing model, unreadable checkpoint, ...). */
  failure: 1,
  /** Bad command line: unknown flag, bad value, missing required flag. */
  usage: 2,
  /** The run finished but some items failed (listed on stderr). */
  partial: 3,
  /** Stopped by SIGINT/SIGTERM after finishing or saving what was in flight. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A bad command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** How a given value is shown in a message: strings quoted, the rest as JSON. */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  if (v === Infinity) return 'inf';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * `--crop_size: expected a positive integer, got "abc"`; `why` adds a reason after the value
 * (`--gan_mode: expected lsgan or vanilla, got "wgangp" (wgangp needs a gradient penalty ...)`).
 */
export function invalidParameter(name: string, expected: string, given: unknown, why?: string): string {
  return `${name}: expected ${expected}, got ${showValue(given)}${why ? ` (${why})` : ''}`;
}
