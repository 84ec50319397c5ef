/**
 * Prometheus metrics. Each app gets its own registry, so several apps (tests) can coexist.
 */
import * as client from 'prom-client';
import type { ModelRepository } from './modelRepository';

export type Stage = 'decode' | 'preprocess' | 'queue' | 'inference' | 'encode';

export interface Metrics {
  registry: client.Registry;
  requests: client.Counter<'route' | 'method' | 'status'>;
  requestDuration: client.Histogram<'route' | 'method' | 'status'>;
  stageDuration: client.Histogram<'stage' | 'model'>;
  batchSize: client.Histogram<'model' | 'direction'>;
  /** Inference requests (/translate, OIP infer) accepted and not yet answered: the autoscaling signal. */
  inferenceInFlight: client.Gauge;
}

export function createMetrics(maxBatch: number): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const requestDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const stageDuration = new client.Histogram({
    name: 'translate_stage_duration_seconds',
    help: 'Time per /translate stage: decode, preprocess, queue (waiting for a batch), inference, encode',
    labelNames: ['stage', 'model'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const sizes: number[] = [];
  for (let b = 1; b <= maxBatch; b *= 2) sizes.push(b);
  if (sizes[sizes.length - 1] !== maxBatch) sizes.push(maxBatch);
  const batchSize = new client.Histogram({
    name: 'inference_batch_size',
    help: 'Requests per onnxruntime run',
    labelNames: ['model', 'direction'] as const,
    buckets: sizes,
    registers: [registry],
  });
  const inferenceInFlight = new client.Gauge({
    name: 'inference_requests_in_flight',
    help: 'Inference requests (POST /translate and /v2/models/{model}/infer) being served: read, queued, running or encoding',
    registers: [registry],
  });
  return { registry, requests, requestDuration, stageDuration, batchSize, inferenceInFlight };
}

/** Gauges read from the repository at scrape time. */
export function registerRepositoryGauges(m: Metrics, repo: ModelRepository): void {
  new client.Gauge({
    name: 'inference_queue_depth',
    help: 'Requests waiting for a batch, per model',
    labelNames: ['model'] as const,
    registers: [m.registry],
    collect() {
      this.reset();
      for (const model of repo.models.values()) this.set({ model: model.name }, model.batcher.depth);
    },
  });
  new client.Gauge({
    name: 'inference_in_flight',
    help: 'Requests in the batch being run, per model',
    labelNames: ['model'] as const,
    registers: [m.registry],
    collect() {
      this.reset();
      for (const model of repo.models.values()) this.set({ model: model.name }, model.batcher.inFlight);
    },
  });
  new client.Gauge({
    name: 'execution_provider_info',
    help: 'Execution provider each model runs on (value 1)',
    labelNames: ['model', 'provider'] as const,
    registers: [m.registry],
    collect() {
      this.reset();
      for (const model of repo.models.values()) this.set({ model: model.name, provider: model.executionProvider }, 1);
    },
  });
  new client.Gauge({
    name: 'models_loaded',
    help: 'Models loaded and warmed up',
    registers: [m.registry],
    collect() {
      this.set(repo.models.size);
    },
  });
  new client.Gauge({
    name: 'model_folder_state',
    help: 'State of each model folder in MODELS_DIR (value 1): loading, ready, failed or unloaded; GET /v1/models says why',
    labelNames: ['folder', 'state'] as const,
    registers: [m.registry],
    collect() {
      this.reset();
      for (const s of repo.statuses()) this.set({ folder: s.folder, state: s.state }, 1);
    },
  });
  new client.Gauge({
    name: 'model_version_info',
    help: 'Version (X-Model-Version) each model serves (value 1)',
    labelNames: ['model', 'version'] as const,
    registers: [m.registry],
    collect() {
      this.reset();
      for (const model of repo.models.values()) this.set({ model: model.name, version: repo.versionOf(model) }, 1);
    },
  });
  new client.Gauge({
    name: 'model_load_failures',
    help: 'Model folders that failed to load and have no version serving',
    registers: [m.registry],
    collect() {
      this.set(repo.failures.length);
    },
  });
}
