/**
 * How values given as text (command line, environment, config files) become numbers and booleans:
 * one vocabulary for every command and the server, so `--flag=on` and `SETTING=yes` mean what
 * they mean everywhere.
 */

/** Words read as true / false (case and surrounding spaces ignored). */
export const TRUE_WORDS: readonly string[] = ['true', '1', 'yes', 'on'];
export const FALSE_WORDS: readonly string[] = ['false', '0', 'no', 'off'];

const DECIMAL_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
/** Integer literals with a radix prefix (0x1F, 0o17, 0b101), as JavaScript's Number() reads them. */
const PREFIXED_RE = /^0(x[0-9a-f]+|o[0-7]+|b[01]+)$/i;

/**
 * A number written as text → the number; anything else passes through for the schema to refuse.
 * With `allowInf`, `inf`/`infinity` and JSON's null (what JSON.stringify writes for Infinity, so
 * options saved in a checkpoint round-trip) are Infinity.
 */
export function toNumber(v: unknown, allowInf = false): unknown {
  if (typeof v === 'string') {
    const s = v.trim();
    if (DECIMAL_RE.test(s) || PREFIXED_RE.test(s)) return Number(s);
    if (allowInf && /^\+?inf(inity)?$/i.test(s)) return Infinity;
    return v;
  }
  if (allowInf && v === null) return Infinity;
  return v;
}

/** A boolean word (TRUE_WORDS, FALSE_WORDS) → the boolean; anything else passes through. */
export function toBoolean(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (TRUE_WORDS.includes(s)) return true;
  if (FALSE_WORDS.includes(s)) return false;
  return v;
}

/** A finite number where text is expected (a name given as 5 in JSON) → its text. */
export function toText(v: unknown): unknown {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
}
