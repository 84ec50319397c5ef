/**
 * One model folder (model.json + ONNX files), opened for inference: manifest checks, sessions on a
 * worker thread with execution-provider fallback and warm-up, a batcher, and the image pipeline
 * around them. `openModel(folder, settings).translate(bytes, options)` is what POST /translate,
 * `npm run translate` and tools/evaluate_model.ts all call, so they give the same bytes for the
 * same input and options.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, parseManifest, type Direction, type ModelManifest } from '../core/modelManifest';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import { Batcher, type BatchResult, type RunBatch } from './batcher';
import { InferenceThread } from './inferenceThread';
import { collectSoon, LARGE_IMAGE_BYTES } from './memory';
import { encodeImage, fromNchw, MIME_TYPES, type OutputFormat, type PngLevel } from './postprocess';
import { preprocessImage, type PixelLimits, type SizeMode } from './preprocess';
import {
  DEFAULT_SESSION_SETTINGS,
  GPU_PROVIDERS,
  type ExecutionProviderName,
  type OrtLogLevel,
  type SessionSettings,
  type SkippedProvider,
} from './providers';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DIRECTIONS: readonly Direction[] = ['AtoB', 'BtoA'];

export const FITS = ['original', 'model'] as const;
export type Fit = (typeof FITS)[number];

/**
 * Channels the `direction` generator takes in and gives out: the direction entry's own
 * inputNc/outputNc when the manifest states them, else A has inputNc and B outputNc.
 */
export function directionChannels(m: ModelManifest, d: Direction): { in: 1 | 3; out: 1 | 3 } {
  const e = m.directions[d];
  const [a, b] = d === 'AtoB' ? [m.inputNc, m.outputNc] : [m.outputNc, m.inputNc];
  return { in: e?.inputNc ?? a, out: e?.outputNc ?? b };
}

export interface ModelSettings {
  /** Tried in order; the first that opens the model is used. */
  providers: readonly ExecutionProviderName[];
  session?: Partial<SessionSettings>;
  ortLogLevel?: OrtLogLevel;
  maxBatch: number;
  /** maxBatch for a model whose sessions run on a GPU provider (default maxBatch). */
  gpuMaxBatch?: number;
  /** How long the first image of a batch waits for companions. */
  batchDelayMs: number;
  /** Hard cap on images waiting for a batch (memory); the batcher also refuses by expected wait. */
  maxQueue: number;
  limits: PixelLimits;
  /** Directions to load (default: every one in the manifest). */
  directions?: readonly Direction[];
  /** Providers known not to work (shared between models so each is probed once); updated here. */
  unavailable?: Set<ExecutionProviderName>;
  /** The folder's name in messages (default its base name). */
  label?: string;
}

export interface TranslateOptions {
  direction: Direction;
  size: SizeMode;
  fit: Fit;
  format: OutputFormat;
  quality?: number;
  png?: PngLevel;
  /** Absolute time (Date.now()) after which waiting for inference fails with BatchTimeoutError. */
  deadline?: number;
  /** Aborting frees the image's place in the queue (the client went away). */
  signal?: AbortSignal;
  onStage?: (stage: Stage, ms: number) => void;
}

export type Stage = 'decode' | 'preprocess' | 'queue' | 'inference' | 'encode';

export interface Translation {
  bytes: Buffer;
  contentType: string;
  processing: ImageSize;
  original: ImageSize;
  batchSize: number;
  inferenceMs: number;
  queueMs: number;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads and checks a model folder's manifest (name, requested directions, files, checksums). */
export async function readModelFolder(
  dir: string,
  label: string,
  only?: readonly Direction[],
): Promise<{ manifest: ModelManifest; directions: Direction[]; files: Record<string, string> }> {
  const where = `${label}/${MANIFEST_FILE}`;
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8'));
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  const manifest = parseManifest(json, where);
  if (!MODEL_NAME_PATTERN.test(manifest.name))
    throw new Error(`${where}: name '${manifest.name}' must match ${MODEL_NAME_PATTERN.source}`);
  const directions = DIRECTIONS.filter((d) => manifest.directions[d] && (!only || only.includes(d)));
  if (directions.length === 0)
    throw new Error(
      `${where}: no ${only!.join('/')} generator (directions: ${DIRECTIONS.filter((d) => manifest.directions[d]).join(', ')})`,
    );
  const files: Record<string, string> = {};
  for (const d of directions) {
    const entry = manifest.directions[d]!;
    const file = path.join(dir, entry.file);
    const st = await fs.stat(file).catch(() => null);
    if (!st?.isFile()) throw new Error(`${where}: ${d} file ${entry.file} is missing`);
    if (entry.sha256 && (await sha256File(file)) !== entry.sha256)
      throw new Error(`${where}: ${d} file ${entry.file} does not match its sha256 (corrupt or replaced)`);
    files[d] = file;
  }
  return { manifest, directions, files };
}

export class Model {
  /** Observes every completed batch (metrics, bulk statistics). */
  onBatch: ((direction: string, size: number, ms: number) => void) | null = null;
  readonly batcher: Batcher;
  /** Runs one batch on the worker; the batcher calls through this field, so tests may wrap it. */
  infer: RunBatch;

  constructor(
    readonly name: string,
    readonly folder: string,
    readonly manifest: ModelManifest,
    readonly directions: Direction[],
    /** Provider per direction; `executionProvider` summarises them. */
    readonly providers: Partial<Record<Direction, ExecutionProviderName>>,
    readonly maxBatch: number,
    readonly thread: InferenceThread,
    /** Providers tried and skipped while opening (for one log line each). */
    readonly skipped: SkippedProvider[],
    readonly warmupMs: number,
    private readonly settings: ModelSettings,
  ) {
    this.infer = (direction, data, dims) => thread.run(direction, data, dims);
    this.batcher = new Batcher({
      maxBatch,
      maxDelayMs: settings.batchDelayMs,
      maxQueue: settings.maxQueue,
      run: (direction, data, dims) => this.infer(direction, data, dims),
      onBatch: (direction, size, ms) => this.onBatch?.(direction, size, ms),
    });
  }

  get executionProvider(): string {
    return [...new Set(Object.values(this.providers))].join(',');
  }

  /** False once the inference worker has crashed or exited. */
  get alive(): boolean {
    return this.thread.alive;
  }

  /** The square side `size=native` runs at. */
  get nativeSide(): number {
    const m = this.manifest;
    return Math.max(m.sizeMultiple, Math.round(m.preferredSize / m.sizeMultiple) * m.sizeMultiple);
  }

  /** Bytes → the exact NCHW input, its batch result and the decoded output pixels (before encoding). */
  async run(
    bytes: Uint8Array,
    o: Omit<TranslateOptions, 'format' | 'fit' | 'quality'>,
  ): Promise<{
    output: RawImage;
    alpha: RawImage | null;
    original: ImageSize;
    processing: ImageSize;
    result: BatchResult;
  }> {
    if (!this.directions.includes(o.direction))
      throw new Error(
        `model '${this.name}' has no ${o.direction} generator (directions: ${this.directions.join(', ')})`,
      );
    const man = this.manifest;
    const pre = await preprocessImage(bytes, {
      channels: directionChannels(man, o.direction).in,
      size: o.size,
      preferredSize: man.preferredSize,
      sizeMultiple: man.sizeMultiple,
      mean: man.normalization.mean,
      std: man.normalization.std,
      ...this.settings.limits,
      onStage: o.onStage,
    });
    const result = await this.batcher.submit(o.direction, pre.input.data, pre.input.dims, {
      deadline: o.deadline,
      signal: o.signal,
    });
    o.onStage?.('queue', result.queueMs);
    o.onStage?.('inference', result.inferenceMs);
    return {
      output: fromNchw(result.data, result.dims, man.normalization),
      alpha: pre.alpha,
      original: pre.original,
      processing: pre.processing,
      result,
    };
  }

  /** Encoded image bytes → translated, encoded image bytes (what POST /translate answers). */
  async translate(bytes: Uint8Array, o: TranslateOptions): Promise<Translation> {
    const r = await this.run(bytes, o);
    const t = performance.now();
    const encoded = await encodeImage(r.output, {
      format: o.format,
      size: o.fit === 'model' ? undefined : r.original,
      quality: o.quality,
      png: o.png,
      alpha: r.alpha,
    });
    o.onStage?.('encode', performance.now() - t);
    // Decoded pixels and tensors of a large image are garbage now: collect them while idle.
    if (r.original.width * r.original.height * 3 + r.result.data.byteLength > LARGE_IMAGE_BYTES) collectSoon();
    return {
      bytes: encoded,
      contentType: MIME_TYPES[o.format],
      processing: r.processing,
      original: r.original,
      batchSize: r.result.batchSize,
      inferenceMs: r.result.inferenceMs,
      queueMs: r.result.queueMs,
    };
  }

  /** Waits for queued and running batches, then releases the sessions and the worker thread. */
  async close(): Promise<void> {
    await this.batcher.idle();
    await this.thread.close();
  }
}

/** Opens a model folder: checks the manifest and files, opens and warms up the sessions. */
export async function openModel(dir: string, settings: ModelSettings): Promise<Model> {
  const label = settings.label ?? path.basename(dir);
  const { manifest, directions, files } = await readModelFolder(dir, label, settings.directions);
  const side = Math.max(
    manifest.sizeMultiple,
    Math.round(manifest.preferredSize / manifest.sizeMultiple) * manifest.sizeMultiple,
  );
  const warmup: Record<string, number[]> = {};
  for (const d of directions) warmup[d] = [1, directionChannels(manifest, d).in, side, side];

  const unavailable = settings.unavailable ?? new Set<ExecutionProviderName>();
  const thread = new InferenceThread({ ortLogLevel: settings.ortLogLevel ?? 'fatal' });
  const providers = settings.providers.filter((p) => !unavailable.has(p));
  let loaded;
  try {
    if (providers.length === 0) throw new Error('every configured execution provider is unavailable');
    loaded = await thread.load({
      files,
      inputName: manifest.io.input,
      outputName: manifest.io.output,
      providers,
      settings: { ...DEFAULT_SESSION_SETTINGS, ...settings.session },
      warmup,
    });
  } catch (e) {
    await thread.terminate();
    throw e;
  }
  const skipped = loaded.skipped.filter((s) => !unavailable.has(s.provider));
  for (const s of skipped) unavailable.add(s.provider);

  // A graph exported with a fixed batch dimension caps the batch size.
  const onGpu = Object.values(loaded.providers).some((p) => GPU_PROVIDERS.includes(p));
  let maxBatch = onGpu ? (settings.gpuMaxBatch ?? settings.maxBatch) : settings.maxBatch;
  for (const b of Object.values(loaded.batchDim)) if (typeof b === 'number') maxBatch = Math.min(maxBatch, b);

  return new Model(
    manifest.name,
    label,
    manifest,
    directions,
    loaded.providers as Model['providers'],
    maxBatch,
    thread,
    skipped,
    loaded.warmupMs,
    settings,
  );
}
