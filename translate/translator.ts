/**
 * One model direction, ready to translate image files exactly as POST /translate does: the
 * server's model repository loads the folder (manifest checks, execution-provider fallback,
 * worker-thread sessions, warm-up), its batcher groups images of equal processed size into one
 * onnxruntime run, and the server's preprocess/postprocess functions turn bytes into tensors and
 * back. Inference runs on the worker thread while sharp decodes and encodes other images on
 * libuv's pool, so the stages overlap.
 */
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Direction } from '../core/modelManifest';
import { loadConfig, type Config, type ExecutionProviderName } from '../serve/config';
import { directionChannels, ModelRepository, type LoadedModel } from '../serve/modelRepository';
import { encodeImage, fromNchw, type OutputFormat } from '../serve/postprocess';
import { preprocessImage, type ImageSize, type SizeMode } from '../serve/preprocess';
import { TranslateError } from './modelFolder';

export const FITS = ['original', 'model'] as const;
export type Fit = (typeof FITS)[number];

/** How long the first image of a batch waits for companions when the model is idle. */
export const DEFAULT_BATCH_DELAY_MS = 20;

export interface EngineSettings {
  executionProviders: ExecutionProviderName[];
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core). */
  threads: number;
  batchSize: number;
  /** Images that may wait for a batch at once (the pipeline's bound on images in flight). */
  concurrency: number;
  maxPixels: number;
  batchDelayMs?: number;
}

/**
 * The server configuration the repository and batcher need, from this command's settings. The
 * other onnxruntime knobs (ORT_INTER_OP_THREADS, ORT_GRAPH_OPTIMIZATION, ORT_ENABLE_*, ORT_LOG_LEVEL)
 * are read from `env` with the server's names and meaning.
 */
export function engineConfig(s: EngineSettings, env: NodeJS.ProcessEnv = {}): Config {
  const ortEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('ORT_') && k !== 'ORT_INTRA_OP_THREADS') ortEnv[k] = v;
  return loadConfig(ortEnv, {
    EXECUTION_PROVIDERS: s.executionProviders,
    ORT_INTRA_OP_THREADS: s.threads,
    MAX_BATCH: s.batchSize,
    MAX_BATCH_DELAY_MS: s.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS,
    MAX_QUEUE: Math.max(1, s.concurrency),
    MAX_PIXELS: s.maxPixels,
    LOG_LEVEL: 'silent',
  });
}

export interface TranslatorOptions {
  /** The model folder. */
  dir: string;
  direction: Direction;
  size: SizeMode;
  fit: Fit;
  format: OutputFormat;
  config: Config;
  /** Receives the repository's messages (model loaded, provider skipped). */
  logger?: Logger;
}

export interface Translated {
  bytes: Buffer;
  processing: ImageSize;
  batchSize: number;
}

/** Milliseconds summed over all translated images (inference: summed over batches). */
export interface StageTotals {
  decode: number;
  preprocess: number;
  queue: number;
  inference: number;
  encode: number;
}

export class Translator {
  readonly stats = {
    batches: 0,
    batchedImages: 0,
    ms: { decode: 0, preprocess: 0, queue: 0, inference: 0, encode: 0 },
  };

  private constructor(
    private readonly repo: ModelRepository,
    readonly model: LoadedModel,
    private readonly o: TranslatorOptions,
  ) {
    repo.onBatch = (_model, _direction, size, ms) => {
      this.stats.batches++;
      this.stats.batchedImages += size;
      this.stats.ms.inference += ms;
    };
  }

  static async open(o: TranslatorOptions): Promise<Translator> {
    const repo = new ModelRepository(o.config, o.logger ?? pino({ level: 'silent' }));
    try {
      const model = await repo.loadFolder(path.basename(o.dir), o.dir, [o.direction]);
      return new Translator(repo, model, o);
    } catch (e) {
      throw new TranslateError(`model ${o.dir} could not be loaded: ${(e as Error).message}`);
    }
  }

  /** The execution provider the direction's session runs on. */
  get provider(): string {
    return this.model.providers[this.o.direction] ?? this.model.executionProvider;
  }

  /** False once the inference worker has died (every later image would fail too). */
  get alive(): boolean {
    return this.model.thread.alive;
  }

  /** Encoded image bytes → translated, encoded image bytes (what POST /translate answers). */
  async translate(bytes: Buffer): Promise<Translated> {
    const man = this.model.manifest;
    const ms = this.stats.ms;
    const pre = await preprocessImage(bytes, {
      channels: directionChannels(man, this.o.direction).in,
      size: this.o.size,
      preferredSize: man.preferredSize,
      sizeMultiple: man.sizeMultiple,
      mean: man.normalization.mean,
      std: man.normalization.std,
      maxPixels: this.o.config.MAX_PIXELS,
      onStage: (stage, t) => (ms[stage] += t),
    });
    const result = await this.model.batcher.submit(this.o.direction, pre.input.data, pre.input.dims);
    ms.queue += result.queueMs;
    const t = performance.now();
    const image = fromNchw(result.data, result.dims, man.normalization);
    const out = await encodeImage(image, {
      format: this.o.format,
      size: this.o.fit === 'model' ? undefined : pre.original,
      png: this.o.config.PNG_COMPRESSION,
    });
    ms.encode += performance.now() - t;
    return { bytes: out, processing: pre.processing, batchSize: result.batchSize };
  }

  /** Waits for running batches, then releases the sessions and the worker thread. */
  close(): Promise<void> {
    return this.repo.close();
  }
}
