/** CORS for the configured origins (`*` for any); without CORS_ORIGINS no CORS headers at all. */
import type { NextFunction, Request, Response } from 'express';

export function cors(origins: readonly string[]) {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    if (origin && (any || allowed.has(origin))) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.vary('Origin');
      res.setHeader(
        'Access-Control-Expose-Headers',
        'X-Model, X-Model-Version, X-Direction, X-Processing-Size, X-Inference-Time-Ms, X-Batch-Size, X-Execution-Provider, Server-Timing, Retry-After',
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
  };
}
