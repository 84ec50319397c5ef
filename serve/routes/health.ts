/** GET /healthz (the process answers), /readyz (models loaded, not draining) and /metrics (Prometheus). */
import express from 'express';
import { HttpProblem } from '../problem';
import { NOT_READY_RETRY_S, type ServeContext } from '../serveContext';

export function healthRouter({ repo, metrics, lifecycle }: ServeContext): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', (_req, res, next) => {
    if (lifecycle.draining)
      return next(
        new HttpProblem('shutting-down', 'the server is shutting down', { 'Retry-After': String(NOT_READY_RETRY_S) }),
      );
    const r = repo.readiness();
    if (!r.ready) return next(new HttpProblem('not-ready', r.reason, { 'Retry-After': String(NOT_READY_RETRY_S) }));
    res.json({ status: 'ready', models: [...repo.models.keys()] });
  });

  router.get('/metrics', async (_req, res, next) => {
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (e) {
      next(e);
    }
  });

  return router;
}
