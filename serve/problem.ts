/**
 * RFC 9457 problem details: every error the server answers is one of these, serialised as
 * `application/problem+json`. Messages are written for the client; internals (stack traces,
 * file paths) stay in the log.
 */
import { STATUS_CODES } from 'node:http';
import { BatchTimeoutError, CancelledError, QueueFullError } from '../inference/batcher';
import { DeadlineError } from '../inference/costModel';

/** How to send an image to POST /translate (said when none came, or in the wrong way). */
export const SEND_AN_IMAGE = "send multipart/form-data with field 'image', or an image/* body";

export type ProblemKind =
  | 'invalid-request'
  | 'unauthorized'
  | 'unknown-model'
  | 'unknown-direction'
  | 'not-found'
  | 'method-not-allowed'
  | 'not-acceptable'
  | 'too-large'
  | 'unsupported-image'
  | 'too-many-pixels'
  | 'too-slow'
  | 'model-load-failed'
  | 'overloaded'
  | 'timeout'
  | 'not-ready'
  | 'shutting-down'
  | 'internal';

const STATUS: Record<ProblemKind, number> = {
  'invalid-request': 400,
  unauthorized: 401,
  'unknown-model': 404,
  'unknown-direction': 404,
  'not-found': 404,
  'method-not-allowed': 405,
  'not-acceptable': 406,
  'too-large': 413,
  'unsupported-image': 415,
  'too-many-pixels': 422,
  'too-slow': 422,
  'model-load-failed': 422,
  overloaded: 503,
  timeout: 503,
  'not-ready': 503,
  'shutting-down': 503,
  internal: 500,
};

/** Kinds that are plain HTTP errors get `about:blank`, as RFC 9457 recommends. */
const GENERIC: ReadonlySet<ProblemKind> = new Set(['not-found', 'method-not-allowed', 'internal']);

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [extension: string]: unknown;
}

export class HttpProblem extends Error {
  readonly status: number;
  constructor(
    readonly kind: ProblemKind,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
    this.status = STATUS[kind];
  }

  body(): ProblemBody {
    return {
      type: GENERIC.has(this.kind) ? 'about:blank' : `/problems/${this.kind}`,
      title: STATUS_CODES[this.status] ?? 'Error',
      status: this.status,
      detail: this.detail,
      ...this.extensions,
    };
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The kind for a bare HTTP status (errors raised by libraries). */
export function kindForStatus(status: number): ProblemKind {
  switch (status) {
    case 400:
      return 'invalid-request';
    case 401:
      return 'unauthorized';
    case 404:
      return 'not-found';
    case 405:
      return 'method-not-allowed';
    case 406:
      return 'not-acceptable';
    case 413:
      return 'too-large';
    case 415:
      return 'unsupported-image';
    default:
      return status >= 400 && status < 500 ? 'invalid-request' : 'internal';
  }
}

/**
 * A failed wait for inference (POST /translate, OIP infer): a full queue, work priced past the
 * deadline behind the queue, or a timeout is a 503 with Retry-After; work priced past
 * REQUEST_TIMEOUT_MS even on an idle server is a 422 naming it; null when the client went away
 * (nothing to answer); anything else is rethrown.
 */
export function waitProblem(
  e: unknown,
  model: { name: string; batcher: { retryAfterSeconds(): number } },
  timeoutMs: number,
): HttpProblem | null {
  const retry = { 'Retry-After': String(model.batcher.retryAfterSeconds()) };
  if (e instanceof DeadlineError)
    return e.reason === 'busy'
      ? new HttpProblem('overloaded', `model '${model.name}' is busy: ${e.message}`, {
          'Retry-After': String(e.retryAfterS),
        })
      : new HttpProblem(
          'too-slow',
          `${e.message} (the server's REQUEST_TIMEOUT_MS setting is ${timeoutMs} ms: raise it to allow more)`,
        );
  if (e instanceof QueueFullError)
    return new HttpProblem('overloaded', `model '${model.name}' is busy: ${e.message}`, retry);
  if (e instanceof BatchTimeoutError)
    return new HttpProblem('timeout', `request timed out (REQUEST_TIMEOUT_MS=${timeoutMs}): ${e.message}`, retry);
  if (e instanceof CancelledError) return null;
  throw e;
}
