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
import {
  MANIFEST_FILE,
  readManifest,
  type Direction,
  type ModelManifest,
  type TilingManifest,
} from '../core/modelManifest';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import { Batcher, type BatchResult, type RunBatch } from './batcher';
import { InferenceThread } from './inferenceThread';
import { collectSoon, LARGE_IMAGE_BYTES } from './memory';
import { OUTPUT_ROWS, type OutputFormat } from '../core/image/formats';
import { encodeImage, fromNchw, type PngLevel } from './postprocess';
import {
  DEFAULT_MAX_INPUT_PIXELS,
  prepareImage,
  preprocessImage,
  probeImage,
  processingSize,
  toNchw,
  type PixelLimits,
  type SizeMode,
} from './preprocess';
import { BatchTimeoutError, CancelledError } from './batcher';
import type { LoadRequest } from './inferenceProtocol';
import { resize } from './resamplePool';
import { rawImageSink, rawImageSource } from './tiling/adapters';
import { coreSide } from './tiling/tilePlan';
import {
  DEFAULT_TILING,
  tileFeather,
  TilingError,
  translateTiled,
  workingSize,
  type TileChoice,
  type TilingSettings,
} from './tiling/tiledTranslate';
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
  const manifest = await readManifest(dir, where);
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
    for (const g of [entry.tiling?.statistics, entry.tiling?.apply]) {
      if (!g) continue;
      const st = await fs.stat(path.join(dir, g.file)).catch(() => null);
      if (!st?.isFile()) throw new Error(`${where}: ${d} tiling graph ${g.file} is missing`);
      if ((await sha256File(path.join(dir, g.file))) !== g.sha256)
        throw new Error(`${where}: ${d} tiling graph ${g.file} does not match its sha256 (corrupt or replaced)`);
    }
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
    tiles: number;
  }> {
    if (!this.directions.includes(o.direction))
      throw new Error(
        `model '${this.name}' has no ${o.direction} generator (directions: ${this.directions.join(', ')})`,
      );
    const man = this.manifest;
    const tiled = await this.runTiled(bytes, o);
    if (tiled) return tiled;
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
      tiles: 0,
    };
  }

  /** The direction's tiling entry (core/arch/tileGeometry.ts), or undefined for folders exported before tiling. */
  tiling(direction: Direction): TilingManifest | undefined {
    return this.manifest.directions[direction]?.tiling;
  }

  /** Tile side for this processing size and choice, or null to run untiled. */
  tileSide(direction: Direction, size: ImageSize, choice: TileChoice = 'auto'): number | null {
    const t = { ...DEFAULT_TILING, ...this.settings.tiling };
    const entry = this.tiling(direction);
    if (choice === 'off') return null;
    if (!entry) {
      if (choice === 'auto') return null;
      throw new TilingError(
        `model '${this.name}' cannot tile: its folder predates tiled execution (re-export it, or run tools/add_tiling_graphs.ts on it)`,
      );
    }
    if (choice === 'auto' && size.width * size.height <= t.tilePixels) return null;
    const feather = tileFeather(entry);
    // `auto` never picks a tile too small for the model's halo; an explicit N is checked instead.
    const smallest = 2 * (entry.halo + feather) + Math.max(entry.multiple, 2 * feather);
    const side = choice === 'auto' ? Math.max(Math.floor(Math.sqrt(t.tilePixels)), smallest) : choice;
    try {
      coreSide(side, entry.halo + feather, entry.multiple, feather);
    } catch (e) {
      throw new TilingError((e as Error).message);
    }
    return side;
  }

  /**
   * The tiled path (null when this image runs untiled): the 8-bit image at the processing size is
   * read a tile at a time and the output written as 8-bit rows, so memory is the two images plus
   * one tile's activations. One tiled image at a time per model; waiting for the turn honours the
   * deadline and the abort signal like the batch queue does.
   */
  private async runTiled(
    bytes: Uint8Array,
    o: Omit<TranslateOptions, 'format' | 'fit' | 'quality'>,
  ): Promise<Awaited<ReturnType<Model['run']>> | null> {
    const man = this.manifest;
    const limits = this.settings.limits;
    const maxInput = limits.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
    const size = processingSize(o.size, await probeImage(bytes, maxInput), man);
    const side = this.tileSide(o.direction, size, o.tile);
    if (side === null) return null;
    const tiling = this.tiling(o.direction)!;
    const t = { ...DEFAULT_TILING, ...this.settings.tiling };
    const channels = directionChannels(man, o.direction);
    const norm = man.normalization;
    // One tiled image at a time, decoded only once its turn comes: memory is one image pair and one tile.
    const queued = performance.now();
    const release = await this.tileTurn(o.deadline, o.signal);
    const queueMs = performance.now() - queued;
    o.onStage?.('queue', queueMs);
    try {
      let t0 = performance.now();
      // Tiled, the network never holds more than a tile: the input limit bounds the image instead.
      const pre = await prepareImage(bytes, {
        channels: channels.in,
        size: o.size,
        preferredSize: man.preferredSize,
        sizeMultiple: man.sizeMultiple,
        mean: norm.mean,
        std: norm.std,
        maxPixels: maxInput,
        maxInputPixels: maxInput,
      });
      o.onStage?.('decode', performance.now() - t0);
      t0 = performance.now();
      const { width, height } = pre.processing;
      const statsInput =
        tiling.norm === 'instance'
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
          tiling,
          outputChannels: channels.out,
          tileSide: side,
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

  private tileQueue: Promise<void> = Promise.resolve();

  /** Waits for this model's previous tiled image; resolves with the function that ends our turn. */
  private async tileTurn(deadline?: number, signal?: AbortSignal): Promise<() => void> {
    let release!: () => void;
    const previous = this.tileQueue;
    const mine = new Promise<void>((r) => (release = r));
    this.tileQueue = previous.then(() => mine);
    const waits: Promise<unknown>[] = [previous];
    let timer: NodeJS.Timeout | undefined;
    if (deadline !== undefined)
      waits.push(
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new BatchTimeoutError('waited too long for the tiled image ahead')),
            Math.max(0, deadline - Date.now()),
          );
        }),
      );
    if (signal)
      waits.push(
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new CancelledError('aborted')), { once: true }),
        ),
      );
    try {
      await Promise.race(waits);
    } catch (e) {
      // Our place still has to pass its turn on once the image ahead finishes.
      release();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return release;
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

/** Absolute paths of each direction's tiling graphs (checked against their sha256 when first opened). */
function tilingFiles(dir: string, m: ModelManifest, directions: Direction[]): LoadRequest['tilingFiles'] {
  const files: NonNullable<LoadRequest['tilingFiles']> = {};
  for (const d of directions) {
    const t = m.directions[d]?.tiling;
    if (t?.statistics && t.apply)
      files[d] = { statistics: path.join(dir, t.statistics.file), apply: path.join(dir, t.apply.file) };
  }
  return files;
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
      tilingFiles: tilingFiles(dir, manifest, directions),
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
