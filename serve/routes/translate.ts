/**
 * POST /translate. Its intake runs before request validation: refuse early (no API key, draining,
 * a declared body over the limit), then read the body (multipart or raw). The handler, after
 * validation, picks the model, direction and format, runs the model and answers the image.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import multer from 'multer';
import { OUTPUT_ROWS, type OutputFormat } from '../../core/image/formats';
import { probeImage } from '../../core/image/decode';
import type { Direction } from '../../core/modelManifest';
import { parseSizeMode, type SizeMode } from '../../inference/preprocess';
import { parseTileChoice } from '../../inference/tiling/tiledTranslate';
import type { Stage } from '../metrics';
import { negotiateOutputFormat } from '../outputNegotiation';
import { HttpProblem, SEND_AN_IMAGE, waitProblem } from '../problem';
import { NOT_READY_RETRY_S, type ServeContext } from '../serveContext';
import { unknownModel } from './models';

const NO_IMAGE = "no image: send multipart/form-data with field 'image', or the image as the body";

function parseSize(s: string | undefined): SizeMode {
  return s === undefined ? { kind: 'native' } : parseSizeMode(s);
}

/** Constant-time bearer token check (hashing first makes the lengths equal). */
function tokenMatches(header: string | undefined, key: string): boolean | 'missing' {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return 'missing';
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(key).digest();
  return timingSafeEqual(a, b);
}

/**
 * Inference routes (/translate, OIP infer) refuse early, before reading the body: no key,
 * draining, a declared body over the limit.
 */
export function admitInference({
  config,
  lifecycle,
}: Pick<ServeContext, 'config' | 'lifecycle'>): express.RequestHandler[] {
  return [
    (req, res, next) => {
      if (config.API_KEY) {
        const ok = tokenMatches(req.headers.authorization, config.API_KEY);
        if (ok !== true) {
          res.setHeader('WWW-Authenticate', ok === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"');
          return next(
            new HttpProblem(
              'unauthorized',
              ok === 'missing'
                ? 'this server needs an API key: send Authorization: Bearer <key>'
                : 'the API key is wrong',
            ),
          );
        }
      }
      if (lifecycle.draining)
        return next(new HttpProblem('shutting-down', 'the server is shutting down', { 'Retry-After': '5' }));
      next();
    },
    (req, res, next) => {
      // A declared length over the limit is refused before reading a byte.
      const declared = Number(req.headers['content-length']);
      if (declared > config.MAX_UPLOAD_BYTES + 64 * 1024)
        return next(
          new HttpProblem('too-large', `the request body (${declared} bytes) is larger than the upload limit`),
        );
      next();
    },
  ];
}

/** Before request validation: the API key, draining, the body's size, then reading it. */
export function translateIntake({ config, lifecycle }: ServeContext): express.Router {
  const router = express.Router();
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 1, fields: 0, parts: 1 },
  }).single('image');
  const rawBody = express.raw({
    type: (req) => !req.headers['content-type']?.startsWith('multipart/'),
    limit: config.MAX_UPLOAD_BYTES,
  });
  router.post(
    '/translate',
    ...admitInference({ config, lifecycle }),
    (req, res, next) =>
      req.headers['content-type']?.startsWith('multipart/') ? upload(req, res, next) : rawBody(req, res, next),
    (req, _res, next) => {
      // Without a Content-Type the validator could only say "unsupported media type undefined".
      if (req.headers['content-type']) return next();
      if (!Buffer.isBuffer(req.body) || req.body.length === 0)
        return next(new HttpProblem('invalid-request', NO_IMAGE));
      next(new HttpProblem('unsupported-image', `no Content-Type header: ${SEND_AN_IMAGE}`));
    },
    (req, _res, next) => {
      // express-openapi-validator checks multipart fields in req.body; multer put the file in req.file.
      if (req.file) req.body = { ...(req.body ?? {}), [req.file.fieldname]: '' };
      next();
    },
  );

  return router;
}

/** After request validation: the translation itself. */
export function translateRouter(ctx: ServeContext): express.Router {
  const router = express.Router();
  router.post('/translate', (req, res, next) => {
    translate(req, res, ctx).catch(next);
  });
  return router;
}

interface TranslateQuery {
  dir?: Direction;
  model?: string;
  size?: string;
  format?: OutputFormat;
  fit?: 'original' | 'model';
  tile?: string;
}

async function translate(req: Request, res: Response, { config, repo, metrics, log }: ServeContext): Promise<void> {
  // The timeout covers the work after the upload: decoding, queueing, inference, encoding.
  const deadline = Date.now() + config.REQUEST_TIMEOUT_MS;
  const q = req.query as TranslateQuery;

  // The lease keeps this version's sessions open until the answer is sent, even if it is replaced.
  const lease = repo.acquire(q.model, res);
  const model = lease?.model;
  if (!lease || !model) {
    if (repo.state === 'loading')
      throw new HttpProblem('not-ready', 'models are still loading', { 'Retry-After': String(NOT_READY_RETRY_S) });
    if (q.model !== undefined) throw unknownModel(q.model, repo);
    throw new HttpProblem('not-ready', 'no models are loaded', { 'Retry-After': String(NOT_READY_RETRY_S) });
  }
  if (!model.thread.alive)
    throw new HttpProblem('not-ready', `the inference worker of model '${model.name}' has stopped`, {
      'Retry-After': String(NOT_READY_RETRY_S),
    });
  const dir: Direction = q.dir ?? 'AtoB';
  if (!model.directions.includes(dir))
    throw new HttpProblem(
      'unknown-direction',
      `model '${model.name}' has no ${dir} generator (directions: ${model.directions.join(', ')})`,
    );

  const body = req.file?.buffer ?? (Buffer.isBuffer(req.body) ? req.body : undefined);
  if (!body || body.length === 0) throw new HttpProblem('invalid-request', NO_IMAGE);
  // The header alone names the input's format; a body that is no image fails later, with the reason.
  const inputFormat =
    q.format === undefined
      ? await probeImage(body, Infinity).then(
          (p) => p.format,
          () => undefined,
        )
      : undefined;
  const format = negotiateOutputFormat(req, q.format, inputFormat);

  const stages: Partial<Record<Stage, number>> = {};
  const observe = (stage: Stage, ms: number) => {
    stages[stage] = ms;
    metrics.stageDuration.observe({ stage, model: model.name }, ms / 1000);
  };

  // The client may give up while we wait; then its place in the queue is freed.
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let result;
  try {
    result = await model.translate(body, {
      direction: dir,
      size: parseSize(q.size),
      fit: q.fit ?? 'original',
      format,
      png: config.PNG_COMPRESSION,
      tile: parseTileChoice(q.tile ?? 'auto'),
      deadline,
      signal: abort.signal,
      onStage: observe,
    });
  } catch (e) {
    const problem = waitProblem(e, model, config.REQUEST_TIMEOUT_MS);
    if (problem) throw problem;
    log.debug({ url: req.originalUrl }, 'client went away while queued');
    return;
  }

  const timing = (Object.entries(stages) as [Stage, number][]).map(([k, v]) => `${k};dur=${v.toFixed(1)}`).join(', ');
  res.set({
    'Content-Type': OUTPUT_ROWS[format].mime,
    Vary: 'Accept',
    'Cache-Control': 'no-store',
    'X-Model': model.name,
    'X-Model-Version': lease.version,
    'X-Direction': dir,
    'X-Processing-Size': `${result.processing.width}x${result.processing.height}`,
    'X-Inference-Time-Ms': result.inferenceMs.toFixed(1),
    'X-Batch-Size': String(result.batchSize),
    'X-Tiles': String(result.tiles),
    'X-Execution-Provider': model.providers[dir] ?? model.executionProvider,
    'Server-Timing': timing,
  });
  res.send(result.bytes);
}
