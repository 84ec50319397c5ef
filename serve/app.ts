/**
 * The HTTP application: createApp(config, repo) wires security headers, CORS, docs, the demo page,
 * OpenAPI request validation and the routes. No listening here (see main.ts), so supertest can
 * drive it directly.
 */
import { parseTileChoice, TilingError } from '../inference/tiling/tiledTranslate';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import multer from 'multer';
import pino, { type Logger } from 'pino';
import swaggerUi from 'swagger-ui-express';
import YAML from 'yaml';
import type { Direction } from '../core/modelManifest';
import { BatchTimeoutError, CancelledError, QueueFullError } from '../inference/batcher';
import { MIME_TYPES, OUTPUT_FORMATS, type OutputFormat } from '../inference/postprocess';
import { ImageError, parseSizeMode, type SizeMode } from '../inference/preprocess';
import { browserRoutes } from './browserRoutes';
import type { Config } from './config';
import { createMetrics, registerRepositoryGauges, type Metrics, type Stage } from './metrics';
import type { LoadedModel, ModelRepository } from './modelRepository';
import { HttpProblem, kindForStatus, PROBLEM_CONTENT_TYPE } from './problem';

const SEND_AN_IMAGE = "send multipart/form-data with field 'image', or an image/* body";
const NO_IMAGE = "no image: send multipart/form-data with field 'image', or the image as the body";

export const OPENAPI_FILE = path.join(__dirname, '..', 'openapi.yaml');
const PUBLIC_DIR = path.join(__dirname, 'public');

/** Shared with main.ts: set while shutting down so new work is refused. */
export interface Lifecycle {
  draining: boolean;
}

export interface AppOptions {
  logger?: Logger;
  metrics?: Metrics;
  lifecycle?: Lifecycle;
}

const NOT_READY_RETRY_S = 5;

/** Bounded set of route labels for metrics (never raw URLs). */
function routeLabel(req: Request): string {
  const p = req.path;
  if (['/translate', '/v1/models', '/healthz', '/readyz', '/metrics', '/openapi.yaml'].includes(p)) return p;
  if (p.startsWith('/v1/models/')) return '/v1/models/{name}';
  if (p === '/docs' || p.startsWith('/docs/')) return '/docs';
  if (p === '/' || /^\/(index\.html|app\.js|style\.css)$/.test(p)) return '/ (page)';
  return 'other';
}

function modelInfo(m: LoadedModel, config: Config) {
  const man = m.manifest;
  return {
    name: m.name,
    ...(man.description !== undefined && { description: man.description }),
    ...(man.domains !== undefined && { domains: man.domains }),
    directions: m.directions,
    channels: { A: man.inputNc, B: man.outputNc },
    sizes: {
      preferred: man.preferredSize,
      multiple: man.sizeMultiple,
      maxPixels: config.MAX_PIXELS,
      maxInputPixels: config.MAX_INPUT_PIXELS,
    },
    tiling: Object.fromEntries(
      m.directions.map((d) => {
        const t = m.tiling(d);
        return [
          d,
          t
            ? { available: true, halo: t.halo, norm: t.norm, tilePixels: config.TILE_PIXELS, stats: config.TILE_STATS }
            : {
                available: false,
                reason: 'model folder exported before tiled execution (no tiling entry in model.json)',
              },
        ];
      }),
    ),
    executionProvider: m.executionProvider,
    maxBatch: m.maxBatch,
    ...(man.epoch !== undefined && { epoch: man.epoch }),
    ...(man.metrics !== undefined && { metrics: man.metrics }),
  };
}

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

/** Converts anything thrown by us or by middleware into an HttpProblem. */
function toProblem(err: unknown): HttpProblem {
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
    const first = Array.isArray(e.errors) ? (e.errors[0] as { path?: string; message?: string }) : undefined;
    if (first?.message) detail = first.path ? `${first.path.replace(/^\./, '')} ${first.message}` : first.message;
    if (status === 415) detail = `${detail} (${SEND_AN_IMAGE})`;
    return new HttpProblem(kindForStatus(status), detail);
  }
  return new HttpProblem('internal', 'internal server error');
}

export function createApp(config: Config, repo: ModelRepository, opts: AppOptions = {}): express.Express {
  const log = opts.logger ?? pino({ level: config.LOG_LEVEL });
  const metrics = opts.metrics ?? createMetrics(Math.max(config.MAX_BATCH, config.GPU_MAX_BATCH));
  registerRepositoryGauges(metrics, repo);
  repo.onBatch = (model, direction, size) => metrics.batchSize.observe({ model, direction }, size);
  const lifecycle = opts.lifecycle ?? { draining: false };
  const specText = readFileSync(OPENAPI_FILE, 'utf8');
  const spec = YAML.parse(specText);

  const app = express();
  app.disable('x-powered-by');

  // Access log + request metrics, recorded when the response is done.
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      const labels = { route: routeLabel(req), method: req.method, status: String(res.statusCode) };
      metrics.requests.inc(labels);
      metrics.requestDuration.observe(labels, s);
      const line = { method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(s * 1000) };
      if (res.statusCode >= 500) log.warn(line, 'request failed');
      else log.info(line, 'request');
    });
    next();
  });

  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // The page shows uploaded/translated images through blob: URLs; Swagger UI uses data: icons.
          'img-src': ["'self'", 'data:', 'blob:'],
          // onnxruntime-web and the resampler compile WebAssembly in the page (issue #27).
          'script-src': ["'self'", "'wasm-unsafe-eval'"],
          'connect-src': ["'self'"],
          // Plain-HTTP deployments (localhost, behind a TLS proxy) must not be upgraded by the browser.
          'upgrade-insecure-requests': null,
        },
      },
      // Cross-origin isolation lets onnxruntime-web's wasm backend use threads in the page.
      crossOriginEmbedderPolicy: true,
    }),
  );

  if (config.CORS_ORIGINS.length > 0) {
    const any = config.CORS_ORIGINS.includes('*');
    const allowed = new Set(config.CORS_ORIGINS);
    app.use((req, res, next) => {
      const origin = req.headers.origin;
      if (origin && (any || allowed.has(origin))) {
        res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
        res.vary('Origin');
        res.setHeader(
          'Access-Control-Expose-Headers',
          'X-Model, X-Direction, X-Processing-Size, X-Inference-Time-Ms, X-Batch-Size, X-Execution-Provider, Server-Timing, Retry-After',
        );
        if (req.method === 'OPTIONS') {
          res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
          res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
          res.setHeader('Access-Control-Max-Age', '600');
          res.status(204).end();
          return;
        }
      }
      next();
    });
  }

  // Documentation and the demo page (static, outside request validation).
  app.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(specText);
  });
  app.get('/docs', (req, res, next) => (req.originalUrl === '/docs' ? res.redirect(301, '/docs/') : next()));
  const docsOptions = { swaggerUrl: '/openapi.yaml', swaggerOptions: { validatorUrl: null } };
  app.use('/docs', swaggerUi.serveFiles(undefined, docsOptions), swaggerUi.setup(undefined, docsOptions));
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: '1h' }));
  app.use(browserRoutes(config, repo));

  // /translate, before validation: refuse early (no key, draining), then read the body.
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 1, fields: 0, parts: 1 },
  }).single('image');
  const rawBody = express.raw({
    type: (req) => !req.headers['content-type']?.startsWith('multipart/'),
    limit: config.MAX_UPLOAD_BYTES,
  });
  app.post(
    '/translate',
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

  app.use(
    OpenApiValidator.middleware({
      apiSpec: spec,
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: false,
      validateSecurity: false,
      fileUploader: false,
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res, next) => {
    if (lifecycle.draining)
      return next(
        new HttpProblem('shutting-down', 'the server is shutting down', { 'Retry-After': String(NOT_READY_RETRY_S) }),
      );
    const r = repo.readiness();
    if (!r.ready) return next(new HttpProblem('not-ready', r.reason, { 'Retry-After': String(NOT_READY_RETRY_S) }));
    res.json({ status: 'ready', models: [...repo.models.keys()] });
  });

  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (e) {
      next(e);
    }
  });

  app.get('/v1/models', (_req, res) => {
    res.json({
      defaultModel: repo.defaultModel()?.name ?? null,
      models: [...repo.models.values()].map((m) => modelInfo(m, config)),
    });
  });

  app.get('/v1/models/:name', (req, res, next) => {
    const m = repo.get(req.params.name);
    if (!m) return next(unknownModel(req.params.name, repo));
    res.json(modelInfo(m, config));
  });

  app.post('/translate', (req, res, next) => {
    translate(req, res, config, repo, metrics, log).catch(next);
  });

  app.use((req, _res, next) => next(new HttpProblem('not-found', `no route for ${req.method} ${req.path}`)));

  // Everything becomes problem+json; internals go to the log only.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const problem = toProblem(err);
    if (problem.status >= 500 && problem.kind === 'internal')
      log.error({ err, url: req.originalUrl }, 'unhandled error');
    if (res.headersSent) return;
    for (const [k, v] of Object.entries(problem.headers)) res.setHeader(k, v);
    // Refused before the upload was read (401, 413, draining): don't keep reading it just to reuse the connection.
    if (!req.complete) res.setHeader('Connection', 'close');
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body()));
  });

  return app;
}

function unknownModel(name: string, repo: ModelRepository): HttpProblem {
  const loaded = [...repo.models.keys()];
  return new HttpProblem(
    'unknown-model',
    `no model named '${name}' (loaded: ${loaded.length ? loaded.join(', ') : 'none'})`,
  );
}

interface TranslateQuery {
  dir?: Direction;
  model?: string;
  size?: string;
  format?: OutputFormat;
  fit?: 'original' | 'model';
  tile?: string;
}

async function translate(
  req: Request,
  res: Response,
  config: Config,
  repo: ModelRepository,
  metrics: Metrics,
  log: Logger,
): Promise<void> {
  // The timeout covers the work after the upload: decoding, queueing, inference, encoding.
  const deadline = Date.now() + config.REQUEST_TIMEOUT_MS;
  const q = req.query as TranslateQuery;

  const model = q.model !== undefined ? repo.get(q.model) : repo.defaultModel();
  if (!model) {
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

  let format = q.format;
  if (format === undefined) {
    const accepted = req.accepts(OUTPUT_FORMATS.map((f) => MIME_TYPES[f]));
    if (!accepted)
      throw new HttpProblem(
        'not-acceptable',
        `Accept allows none of ${OUTPUT_FORMATS.map((f) => MIME_TYPES[f]).join(', ')} (or pass format=png|jpeg|webp)`,
      );
    format = OUTPUT_FORMATS.find((f) => MIME_TYPES[f] === accepted)!;
  }

  const body = req.file?.buffer ?? (Buffer.isBuffer(req.body) ? req.body : undefined);
  if (!body || body.length === 0) throw new HttpProblem('invalid-request', NO_IMAGE);

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
    const retry = { 'Retry-After': String(model.batcher.retryAfterSeconds()) };
    if (e instanceof QueueFullError)
      throw new HttpProblem('overloaded', `model '${model.name}' is busy: ${e.message}`, retry);
    if (e instanceof BatchTimeoutError)
      throw new HttpProblem(
        'timeout',
        `request timed out (REQUEST_TIMEOUT_MS=${config.REQUEST_TIMEOUT_MS}): ${e.message}`,
        retry,
      );
    if (e instanceof CancelledError) {
      log.debug({ url: req.originalUrl }, 'client went away while queued');
      return;
    }
    throw e;
  }

  const timing = (Object.entries(stages) as [Stage, number][]).map(([k, v]) => `${k};dur=${v.toFixed(1)}`).join(', ');
  res.set({
    'Content-Type': MIME_TYPES[format],
    Vary: 'Accept',
    'Cache-Control': 'no-store',
    'X-Model': model.name,
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
