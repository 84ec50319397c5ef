/**
 * Option schemas' building blocks: zod field types that read values given as text (command line,
 * environment) or typed (JSON) with one coercion vocabulary (./coerce.ts) and one "must be ..."
 * message each, cross-checks between fields, and parsing into one-line errors naming the flag
 * (core/cli/errors.ts). The commands' own schemas live with them (train/trainOptions.ts,
 * export/importOptions.ts, and the field lists of the other command lines).
 */
import { z } from 'zod';
import { invalidParameter, showValue } from '../cli/errors';
import { toBoolean, toNumber, toText } from './coerce';

// ---------------------------------------------------------------------------------------------
// Field builders. Values may arrive as strings (command line) or typed (JSON), so numbers and
// booleans are coerced first (./coerce.ts); each type carries the one message its errors print.

function intType(min: 0 | 1, allowInf = false) {
  const what = min === 1 ? 'a positive integer' : 'a non-negative integer';
  const msg = allowInf ? `must be ${what} or inf` : `must be ${what}`;
  return z.preprocess(
    (v) => toNumber(v, allowInf),
    z
      .number({ invalid_type_error: msg, required_error: 'is required' })
      .refine((n) => (allowInf && n === Infinity) || (Number.isSafeInteger(n) && n >= min), msg),
  );
}

function numberType(check: (n: number) => boolean, msg: string) {
  return z.preprocess(
    (v) => toNumber(v, false),
    z
      .number({ invalid_type_error: msg, required_error: 'is required' })
      .refine((n) => Number.isFinite(n) && check(n), msg),
  );
}

function booleanType() {
  return z.preprocess(toBoolean, z.boolean({ invalid_type_error: 'must be true or false' }));
}

function enumType<const T extends readonly [string, ...string[]]>(values: T, unsupported: Record<string, string> = {}) {
  return z.enum(values, {
    errorMap: (_issue, ctx) => ({
      message:
        typeof ctx.data === 'string' && ctx.data in unsupported
          ? unsupported[ctx.data]
          : `must be one of ${values.join(', ')}`,
    }),
  });
}

function textType() {
  return z.preprocess(
    toText,
    z
      .string({ invalid_type_error: 'must be a string', required_error: 'is required' })
      .min(1, 'must be a non-empty string'),
  );
}

/** A single path component: used as a folder or file name under checkpoints_dir. */
function plainNameType() {
  return z.preprocess(
    toText,
    z
      .string({ invalid_type_error: 'must be a string' })
      .min(1, 'must be a non-empty string')
      .refine((s) => !/[/\\]/.test(s) && s !== '.' && s !== '..', 'must be a plain name without path separators'),
  );
}

/** The field types above, for other command lines' schemas (same coercion and messages). */
export const optionField = {
  int: intType,
  number: numberType,
  boolean: booleanType,
  enum: enumType,
  text: textType,
  plainName: plainNameType,
} as const;

/** tfjs backends (core/tf/backend.ts); the training, test, import and bench commands all take `--backend`. */
export const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
/** Where the onnxruntime training engine runs its step graphs (`npm run train -- --device`, core/onnx/ortRuntime.ts). */
export const TRAINING_DEVICES = ['cpu', 'webgpu', 'cuda'] as const;
export type TrainingDevice = (typeof TRAINING_DEVICES)[number];
export const DEVICE_CHOICES = ['auto', ...TRAINING_DEVICES] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

// ---------------------------------------------------------------------------------------------
// Cross-checks between fields.

export type OptionIssue = { path: string; message: string };

/** The object schema of `shape` (unknown keys refused) plus `check`, run once every field is valid. */
export function withCrossChecks<T extends z.ZodRawShape, O>(shape: T, check: (o: O) => OptionIssue[]) {
  const fields = z.object(shape).strict();
  return fields.superRefine((o, ctx) => {
    // zod runs refinements even when a field failed; cross-checks only make sense on valid fields.
    if (!fields.safeParse(o).success) return;
    for (const issue of check(o as O)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [issue.path],
        message: issue.message,
        params: { complete: true },
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Parsing with one-line errors that name the flag.

/**
 * The message for the first problem zod found, in the CLI layer's style (core/cli/errors.ts):
 * `--crop_size: expected a positive integer, got "abc"`. Field messages read "must be X" or
 * "must be X: why"; cross-checks between options are complete sentences and pass through.
 */
export function formatOptionIssue(issue: z.ZodIssue, raw: unknown): string {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) return `unknown option --${issue.keys[0]}`;
  if (issue.path.length === 0) return `options ${issue.message}`;
  const key = String(issue.path[0]);
  if (issue.code === z.ZodIssueCode.custom && (issue.params as { complete?: boolean } | undefined)?.complete) {
    return issue.message;
  }
  const value = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined;
  if (value === undefined) return `--${key} is required`;
  const m = /^must be (.*?)(?:: (.*))?$/s.exec(issue.message);
  if (!m) return `--${key}: ${issue.message}, got ${showValue(value)}`;
  return invalidParameter(`--${key}`, m[1], value, m[2]);
}

/** Parses with `schema`, throwing an Error whose message is one line naming the offending flag. */
export function parseOptionsWith<S extends z.ZodTypeAny>(schema: S, raw: unknown): z.output<S> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('options must be an object');
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(formatOptionIssue(r.error.issues[0], raw).replace(/\s*\n\s*/g, ' '));
  return r.data;
}
