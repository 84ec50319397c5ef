/** Everything thrown becomes problem+json ({"error"} under /v2); internals go to the log only. */
import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import type { Logger } from 'pino';
import { ImageError } from '../../core/image/decode';
import { TilingError } from '../../inference/tiling/tiledTranslate';
import { isOipPath, sendOipError } from '../oip/router';
import { HttpProblem, kindForStatus, PROBLEM_CONTENT_TYPE, SEND_AN_IMAGE } from '../problem';
import { firstValidationError, validationDetail, type ValidatorError } from './validationWords';

/** Converts anything thrown by us or by middleware into an HttpProblem. */
function toProblem(err: unknown, req: Request): HttpProblem {
  if (err instanceof HttpProblem) return err;
  if (err instanceof TilingError) return new HttpProblem('invalid-request', err.message);
  if (err instanceof ImageError) {
    const setting = err.limit === 'input' ? 'MAX_INPUT_PIXELS' : err.limit === 'processing' ? 'MAX_PIXELS' : null;
    return new HttpProblem(err.reason, setting ? `${err.message} (the server's ${setting} setting)` : err.message);
  }
  if (err instanceof multer.MulterError) {
    if (err.code === 'LIMIT_FILE_SIZE')
      return new HttpProblem('too-large', `the image is larger than the upload limit`);
    if (err.code === 'LIMIT_UNEXPECTED_FILE')
      return new HttpProblem('invalid-request', `unexpected file field '${err.field}': send one file in field 'image'`);
    return new HttpProblem('invalid-request', `multipart body: ${err.message} (send one file in field 'image')`);
  }
  const e = err as { status?: number; statusCode?: number; type?: string; message?: string; errors?: unknown };
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // body-parser and express-openapi-validator errors carry a client-facing message and a status.
    if (e.type === 'entity.too.large')
      return new HttpProblem('too-large', 'the request body is larger than the upload limit');
    let detail = e.message ?? 'invalid request';
    const first = Array.isArray(e.errors) ? firstValidationError(e.errors as ValidatorError[]) : undefined;
    if (first?.message) detail = validationDetail(first, req);
    if (status === 415) detail = `${detail} (${SEND_AN_IMAGE})`;
    return new HttpProblem(kindForStatus(status), detail);
  }
  return new HttpProblem('internal', 'internal server error');
}

export function problemHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const problem = toProblem(err, req);
    if (problem.status >= 500 && problem.kind === 'internal')
      log.error({ err, url: req.originalUrl }, 'unhandled error');
    if (res.headersSent) return;
    for (const [k, v] of Object.entries(problem.headers)) res.setHeader(k, v);
    // Refused before the upload was read (401, 413, draining): don't keep reading it just to reuse the connection.
    if (!req.complete) res.setHeader('Connection', 'close');
    if (isOipPath(req.path)) return sendOipError(res, problem);
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body()));
  };
}
