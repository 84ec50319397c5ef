/**
 * The HTTP application: createApp(config, repo) assembles security headers, CORS, the access log,
 * docs and the demo page, OpenAPI request validation and the routers (routes/), and turns every
 * error into problem+json. No listening here (see main.ts), so supertest can drive it directly.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import express from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import pino, { type Logger } from 'pino';
import YAML from 'yaml';
import { browserRoutes } from './routes/browser';
import type { Config } from './config';
import { createMetrics, registerRepositoryGauges, type Metrics } from './metrics';
import { accessLog } from './middleware/accessLog';
import { cors } from './middleware/cors';
import { problemHandler } from './middleware/problemHandler';
import type { ModelRepository } from './modelRepository';
import { HttpProblem } from './problem';
import { docsRouter } from './routes/docs';
import { healthRouter } from './routes/health';
import { modelControlRouter } from './routes/modelControl';
import { modelsRouter } from './routes/models';
import { admitInference, translateIntake, translateRouter } from './routes/translate';
import { createOipRouter, OIP_INFER_PATHS, readOipBody } from './oip/router';
import type { Lifecycle, ServeContext } from './serveContext';

export const OPENAPI_FILE = path.join(__dirname, '..', 'openapi.yaml');

export interface AppOptions {
  logger?: Logger;
  metrics?: Metrics;
  lifecycle?: Lifecycle;
}

export function createApp(config: Config, repo: ModelRepository, opts: AppOptions = {}): express.Express {
  const log = opts.logger ?? pino({ level: config.LOG_LEVEL });
  const metrics = opts.metrics ?? createMetrics(Math.max(config.MAX_BATCH, config.GPU_MAX_BATCH));
  registerRepositoryGauges(metrics, repo);
  repo.onBatch = (model, direction, size) => metrics.batchSize.observe({ model, direction }, size);
  const ctx: ServeContext = { config, repo, metrics, log, lifecycle: opts.lifecycle ?? { draining: false } };
  const specText = readFileSync(OPENAPI_FILE, 'utf8');

  const app = express();
  app.disable('x-powered-by');
  app.use(accessLog(ctx));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // The page shows uploaded/translated images through blob: URLs; Swagger UI uses data: icons.
          'img-src': ["'self'", 'data:', 'blob:'],
          // onnxruntime-web and the resampler compile WebAssembly in the page.
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
  if (config.CORS_ORIGINS.length > 0) app.use(cors(config.CORS_ORIGINS));

  // Static and refused-early parts first: they are outside request validation.
  app.use(docsRouter(specText));
  app.use(browserRoutes(config, repo));
  app.use(translateIntake(ctx));
  app.post(OIP_INFER_PATHS, ...admitInference(ctx), ...readOipBody(config));

  app.use(
    OpenApiValidator.middleware({
      apiSpec: YAML.parse(specText),
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: false,
      validateSecurity: false,
      fileUploader: false,
    }),
  );

  // Routers: each serves paths that openapi.yaml describes.
  app.use(healthRouter(ctx));
  app.use(modelsRouter(ctx));
  app.use(modelControlRouter(ctx));
  app.use(translateRouter(ctx));
  app.use(createOipRouter(ctx));

  app.use((req, _res, next) => next(new HttpProblem('not-found', `no route for ${req.method} ${req.path}`)));
  app.use(problemHandler(log));
  return app;
}
