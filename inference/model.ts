/**
 * One model folder opened for inference (openModel.ts): its sessions on a worker thread, a
 * batcher, and the image pipeline around them. `translate(bytes, options)` is what POST /translate,
 * `npm run translate` and tools/evaluate_model.ts all call, so they give the same bytes for the
 * same input and options. Each request is planned once from the image header (requestPlan.ts),
 * then decoded once, and runs either through the batch queue or tile by tile.
 */
import type { Direction, ModelManifest, TilingManifest } from '../core/modelManifest';
import { OUTPUT_ROWS, type OutputFormat } from '../core/image/formats';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import { Batcher, CancelledError, type BatchResult, type RunBatch } from './batcher';
import type { InferenceThread } from './inferenceThread';
import { collectSoon, LARGE_IMAGE_BYTES } from './memory';
import { directionChannels } from './modelFiles';
import { encodeImage, fromNchw, type PngLevel } from './postprocess';
import {
  DEFAULT_MAX_INPUT_PIXELS,
  prepareImage,
  toNchw,
  type PixelLimits,
  type PreprocessOptions,
  type SizeMode,
} from './preprocess';
import type { ExecutionProviderName, OrtLogLevel, SessionSettings } from '../core/onnx/ortRuntime';
import type { SkippedProvider } from './providers';
import { planRequest, type RequestPlan } from './requestPlan';
import { resize } from './resamplePool';
import { TileQueue } from './tileQueue';
import { rawImageSink, rawImageSource } from './tiling/adapters';
import {
  DEFAULT_TILING,
  translateTiled,
  workingSize,
  type TileChoice,
  type TilingSettings,
} from './tiling/tiledTranslate';

export const FITS = ['original', 'model'] as const;
export type Fit = (typeof FITS)[number];

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
  /** When and how images are tiled (default DEFAULT_TILING). */
  tiling?: Partial<TilingSettings>;
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
  /** `auto` (default): tile when the processing size exceeds the tile budget; `off`; or a tile side. */
  tile?: TileChoice;
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
  /** Tiles run (pass 1 and 2), 0 when untiled. */
  tiles: number;
}

export type RunOptions = Omit<TranslateOptions, 'format' | 'fit' | 'quality'>;

export interface RunResult {
  output: RawImage;
  alpha: RawImage | null;
  original: ImageSize;
  processing: ImageSize;
  result: BatchResult;
  tiles: number;
}

export class Model {
  /** Observes every completed batch (metrics, bulk statistics). */
  onBatch: ((direction: string, size: number, ms: number) => void) | null = null;
  readonly batcher: Batcher;
  /** Runs one batch on the worker; the batcher calls through this field, so tests may wrap it. */
  infer: RunBatch;
  private readonly tiles = new TileQueue();

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

  /** Bytes → the decoded output pixels (before encoding), with what `translate` reports. */
  async run(bytes: Uint8Array, o: RunOptions): Promise<RunResult> {
    if (!this.directions.includes(o.direction))
      throw new Error(
        `model '${this.name}' has no ${o.direction} generator (directions: ${this.directions.join(', ')})`,
      );
    const t0 = performance.now();
    const plan = await planRequest(bytes, this.planContext, o);
    return plan.kind === 'tiled' ? this.runTiled(bytes, o, plan) : this.runBatched(bytes, o, plan.processing, t0);
  }

  /** The direction's tiling entry (core/arch/tileGeometry.ts), or undefined for folders exported before tiling. */
  tiling(direction: Direction): TilingManifest | undefined {
    return this.manifest.directions[direction]?.tiling;
  }

  private get planContext() {
    return {
      name: this.name,
      manifest: this.manifest,
      limits: this.settings.limits,
      tiling: { ...DEFAULT_TILING, ...this.settings.tiling },
    };
  }

  private imageOptions(o: RunOptions): Omit<PreprocessOptions, 'maxPixels' | 'maxInputPixels'> {
    const man = this.manifest;
    return {
      channels: directionChannels(man, o.direction).in,
      size: o.size,
      preferredSize: man.preferredSize,
      sizeMultiple: man.sizeMultiple,
      mean: man.normalization.mean,
      std: man.normalization.std,
    };
  }

  /** The whole image as one NCHW tensor through the batch queue. */
  private async runBatched(bytes: Uint8Array, o: RunOptions, processing: ImageSize, t0: number): Promise<RunResult> {
    const man = this.manifest;
    const pre = await prepareImage(bytes, { ...this.imageOptions(o), ...this.settings.limits }, processing);
    const t1 = performance.now();
    o.onStage?.('decode', t1 - t0);
    const input = toNchw(pre.image, man.normalization);
    o.onStage?.('preprocess', performance.now() - t1);
    const result = await this.batcher.submit(o.direction, input.data, input.dims, {
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
      tiles: 0,
    };
  }

  /**
   * Tile by tile: the 8-bit image at the processing size is read a tile at a time and the output
   * written as 8-bit rows, so memory is the two images plus one tile's activations. One tiled image
   * at a time per model (tileQueue.ts), decoded only once its turn comes.
   */
  private async runTiled(
    bytes: Uint8Array,
    o: RunOptions,
    plan: Extract<RequestPlan, { kind: 'tiled' }>,
  ): Promise<RunResult> {
    const man = this.manifest;
    const t = { ...DEFAULT_TILING, ...this.settings.tiling };
    const channels = directionChannels(man, o.direction);
    const norm = man.normalization;
    const queued = performance.now();
    const release = await this.tiles.turn(o.deadline, o.signal);
    const queueMs = performance.now() - queued;
    o.onStage?.('queue', queueMs);
    try {
      let t0 = performance.now();
      // Tiled, the network never holds more than a tile: the input limit bounds the image instead.
      const maxInput = this.settings.limits.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
      const pre = await prepareImage(
        bytes,
        { ...this.imageOptions(o), maxPixels: maxInput, maxInputPixels: maxInput },
        plan.processing,
      );
      o.onStage?.('decode', performance.now() - t0);
      t0 = performance.now();
      const { width, height } = pre.processing;
      const statsInput =
        plan.tiling.norm === 'instance'
          ? toNchw(await resize(pre.image, workingSize(pre.processing, t, man.sizeMultiple)), norm)
          : undefined;
      o.onStage?.('preprocess', performance.now() - t0);
      t0 = performance.now();
      const output: RawImage = {
        data: new Uint8Array(width * height * channels.out),
        width,
        height,
        channels: channels.out,
      };
      const r = await translateTiled(
        rawImageSource(pre.image, norm),
        rawImageSink(output, norm),
        (graph, feeds, fetch) => this.thread.runGraph(o.direction, graph, feeds, fetch),
        {
          tiling: plan.tiling,
          outputChannels: channels.out,
          tileSide: plan.side,
          stats: t.stats,
          statsInput,
          onTile: () => {
            if (o.signal?.aborted) throw new CancelledError('the client went away');
          },
        },
      );
      const inferenceMs = performance.now() - t0;
      o.onStage?.('inference', inferenceMs);
      return {
        output,
        alpha: pre.alpha,
        original: pre.original,
        processing: pre.processing,
        result: { data: new Float32Array(0), dims: [], inferenceMs, queueMs, batchSize: 1 },
        tiles: r.tiles,
      };
    } finally {
      release();
    }
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
      contentType: OUTPUT_ROWS[o.format].mime,
      processing: r.processing,
      original: r.original,
      batchSize: r.result.batchSize,
      inferenceMs: r.result.inferenceMs,
      queueMs: r.result.queueMs,
      tiles: r.tiles,
    };
  }

  /** Waits for queued and running batches, then releases the sessions and the worker thread. */
  async close(): Promise<void> {
    await this.batcher.idle();
    await this.thread.close();
  }
}
