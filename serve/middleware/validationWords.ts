/**
 * express-openapi-validator's errors (ajv's) in words: the parameter or field as the client wrote
 * it, what it accepts (allowed values, ranges, the size/tile/model-name forms spelt out instead of
 * a regular expression) and what it got. The one place such errors are worded (problemHandler.ts).
 */
import type { Request } from 'express';
import { MODEL_NAME_WORDS } from '../../inference/modelFiles';
import { SIZE_WORDS } from '../../inference/preprocess';
import { TILE_WORDS } from '../../inference/tiling/tiledTranslate';

export interface ValidatorError {
  path?: string;
  message?: string;
  errorCode?: string;
}

/** Pattern-checked values, by their last path segment, and what the pattern means. */
const PATTERN_WORDS: Record<string, string> = {
  size: SIZE_WORDS,
  tile: TILE_WORDS,
  model: `a model name: ${MODEL_NAME_WORDS}`,
  name: `a model name: ${MODEL_NAME_WORDS}`,
};

/** `/query/size` → `size`; `/body/inputs/0/name` → `inputs[0].name`; `/params/name` → `name (in the path)`. */
function fieldName(segments: string[]): string {
  const [where, ...rest] = segments;
  const name = rest.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  if (where === 'params') return `${name} (in the path)`;
  if (where === 'headers') return `header ${name}`;
  return name || 'the request body';
}

function valueAt(req: Request, segments: string[]): unknown {
  const [where, ...rest] = segments;
  let v: unknown =
    where === 'query' ? req.query : where === 'params' ? req.params : where === 'headers' ? req.headers : req.body;
  for (const s of rest) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[s] : undefined;
  return v;
}

const shown = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

/** One validator error as a sentence. */
export function validationDetail(e: ValidatorError, req: Request): string {
  const message = e.message ?? 'is invalid';
  if (!e.path) return message;
  if (!e.errorCode) {
    // The validator's own checks (unknown or empty query parameters, media types) come as sentences.
    if (!e.path.startsWith('/query/')) return `${e.path} ${message}`;
    if (!message.startsWith('Unknown query parameter')) return message;
    const known = (req as { openapi?: { schema?: { parameters?: { in?: string; name?: string }[] } } }).openapi?.schema
      ?.parameters;
    const names = (known ?? []).filter((p) => p.in === 'query' && p.name).map((p) => p.name);
    return names.length > 0 ? `${message} (query parameters: ${names.join(', ')})` : message;
  }
  const segments = e.path.replace(/^[./]/, '').split(/[/.]/).filter(Boolean);
  const field = fieldName(segments);
  const value = valueAt(req, segments);
  const got = value === undefined ? '' : `, got ${shown(value)}`;
  const keyword = (e.errorCode ?? '').split('.')[0];
  const last = segments[segments.length - 1];
  switch (keyword) {
    case 'pattern':
      return PATTERN_WORDS[last] ? `${field} must be ${PATTERN_WORDS[last]}${got}` : `${field} ${message}${got}`;
    case 'enum': {
      const allowed = /allowed values: (.*)$/.exec(message)?.[1];
      return allowed ? `${field} must be one of ${allowed}${got}` : `${field} ${message}${got}`;
    }
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `unknown field ${field}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const words = { '>=': 'at least', '<=': 'at most', '>': 'more than', '<': 'less than' };
      const m = /must be (>=|<=|>|<) (.*)$/.exec(message);
      return m ? `${field} must be ${words[m[1] as keyof typeof words]} ${m[2]}${got}` : `${field} ${message}${got}`;
    }
    case 'type': {
      const t = /must be (\w+)/.exec(message)?.[1];
      const a = t === 'integer' || t === 'array' || t === 'object' ? 'an' : 'a';
      return t ? `${field} must be ${a} ${t}${got}` : `${field} ${message}${got}`;
    }
    case 'minItems':
    case 'maxItems':
    case 'minLength':
    case 'maxLength': {
      const n = /(\d+)/.exec(message)?.[1];
      const most = keyword.startsWith('max');
      const unit = keyword.endsWith('Items') ? 'item(s)' : 'character(s)';
      return n ? `${field} must have at ${most ? 'most' : 'least'} ${n} ${unit}` : `${field} ${message}`;
    }
    default:
      return `${field} ${message}${got}`;
  }
}

/** The first error worth reporting: an `anyOf` summary only when nothing more precise is there. */
export function firstValidationError(errors: ValidatorError[]): ValidatorError | undefined {
  return errors.find((e) => !(e.errorCode ?? '').startsWith('anyOf')) ?? errors[0];
}
