/**
 * Field types for command-line schemas: core/config's builders (same coercion from strings,
 * same "must be ..." messages that core/cli/errors.ts turns into one-line errors) plus
 * the few shapes other commands need.
 */
import { z } from 'zod';
import { toNumber } from '../config/coerce';
import { optionField } from '../config/options';

/** An integer in [min, max], given as a string on the command line or a number in JSON. */
function intRange(min: number, max: number) {
  const msg = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    (v) => toNumber(v),
    z.number({ invalid_type_error: msg }).refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, msg),
  );
}

/** `a, b,,c` → ['a', 'b', 'c']; anything but a string (an array from a config file) passes through. */
export function commaSeparated(v: unknown): unknown {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : v;
}

/** A comma-separated list of known values (`cuda,cpu`), at least one. */
function list<const T extends readonly [string, ...string[]]>(values: T) {
  const msg = `must be a comma-separated list of ${values.join(', ')}`;
  return z.preprocess(
    commaSeparated,
    z.array(z.enum(values, { errorMap: () => ({ message: msg }) }), { invalid_type_error: msg }).min(1, msg),
  );
}

/** A comma-separated list of integers ≥ min (`1,4,16`), at least one. */
function intList(min: 0 | 1) {
  const msg = `must be a comma-separated list of integers >= ${min}`;
  return z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((s) => toNumber(s)) : v),
    z.array(z.number({ invalid_type_error: msg }).int(msg).min(min, msg), { invalid_type_error: msg }).min(1, msg),
  );
}

/** A string turned into something else by `parse`, which throws when the string is not valid. */
function parsed<T>(parse: (s: string) => T, expected: string) {
  return z.string({ invalid_type_error: `must be ${expected}` }).transform((s, ctx) => {
    try {
      return parse(s);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be ${expected}` });
      return z.NEVER;
    }
  });
}

export const field = { ...optionField, intRange, intList, list, parsed } as const;
