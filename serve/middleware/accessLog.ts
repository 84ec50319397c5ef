/** Access log and request metrics, recorded when each response is done. */
import type { NextFunction, Request, Response } from 'express';
import { isOipPath, oipRouteLabel } from '../oip/router';
import type { ServeContext } from '../serveContext';

/** Bounded set of route labels for metrics (never raw URLs). */
function routeLabel(req: Request): string {
  const p = req.path;
  if (['/translate', '/v1/models', '/healthz', '/readyz', '/metrics', '/openapi.yaml'].includes(p)) return p;
  if (p.startsWith('/v1/models/')) return '/v1/models/{name}';
  if (isOipPath(p)) return oipRouteLabel(p);
  if (p === '/docs' || p.startsWith('/docs/')) return '/docs';
  if (p === '/' || /^\/(index\.html|app\.js|style\.css)$/.test(p)) return '/ (page)';
  return 'other';
}

/**
 * Liveness and readiness probes poll all day, and a readiness probe answers 503 by design while the
 * models load: logged at debug, never as a failed request (the repository logs the state changes).
 */
const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']);

export function accessLog({ metrics, log }: Pick<ServeContext, 'metrics' | 'log'>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const start = process.hrtime.bigint();
    if (req.method === 'POST' && /^\/translate$|^\/v2\/.*\/infer$/.test(req.path)) {
      metrics.inferenceInFlight.inc();
      res.on('close', () => metrics.inferenceInFlight.dec());
    }
    res.on('finish', () => {
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      const labels = { route: routeLabel(req), method: req.method, status: String(res.statusCode) };
      metrics.requests.inc(labels);
      metrics.requestDuration.observe(labels, s);
      const line = { method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(s * 1000) };
      if (PROBE_PATHS.has(req.path)) log.debug(line, 'probe');
      else if (res.statusCode >= 500) log.warn(line, 'request failed');
      else log.info(line, 'request');
    });
    next();
  };
}
