/**
 * What the routes share: the settings, the loaded models, the metrics, the log and the shutdown
 * flag. createApp (app.ts) builds it once and hands it to each router.
 */
import type { Logger } from 'pino';
import type { Config } from './config';
import type { Metrics } from './metrics';
import type { ModelRepository } from './modelRepository';

/** Shared with main.ts: set while shutting down so new work is refused. */
export interface Lifecycle {
  draining: boolean;
}

export interface ServeContext {
  config: Config;
  repo: ModelRepository;
  metrics: Metrics;
  log: Logger;
  lifecycle: Lifecycle;
}

/** Seconds a client is told to wait (Retry-After) while the server is not ready. */
export const NOT_READY_RETRY_S = 5;
