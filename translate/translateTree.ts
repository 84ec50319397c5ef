/**
 * Translating a folder tree: list the images, keep this shard's share, skip those whose output
 * already exists, and run the rest through the inference layer's model (inference/model.ts, the
 * same `translate` POST /translate calls) with a bounded number of images in flight (reading,
 * decoding, waiting for a batch, encoding, writing). Inference runs on the model's worker thread
 * while other images decode and encode, so the stages overlap. A file that cannot be read,
 * decoded or written is reported and the run goes on; only a dead inference worker stops it.
 */
import type { TileChoice, TilingSettings } from '../inference/tiling/tiledTranslate';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../core/io/atomicWrite';
import type { Direction } from '../core/modelManifest';
import { ImageError } from '../core/image/decode';
import type { Fit, Model, Stage } from '../inference/model';
import { openModel } from '../inference/openModel';
import { skippedLogLevel } from '../inference/providers';
import type { SizeMode } from '../inference/preprocess';
import type { ExecutionProviderName } from '../core/onnx/ortRuntime';
import { firstLine } from '../core/errorText';
import { fileOutputFormat, listInputs, outputPaths, type TreeFormat } from './inputTree';
import { checkDirection, resolveModel, TranslateError } from './modelFolder';
import { checkShard, selectShard, type Shard } from './shard';

/** How long the first image of a batch waits for companions when the model is idle. */
export const DEFAULT_BATCH_DELAY_MS = 20;

export interface EngineSettings {
  executionProviders: ExecutionProviderName[];
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core). */
  threads: number;
  batchSize: number;
  /** Images that may wait for a batch at once (the pipeline's bound on images in flight). */
  concurrency: number;
  /** Largest processing size (width × height the network runs at). */
  maxPixels: number;
  /** Largest decoded input (width × height). */
  maxInputPixels?: number;
  batchDelayMs?: number;
  /** Tile budget and statistics mode (inference/tiling); defaults DEFAULT_TILING. */
  tiling?: Partial<TilingSettings>;
}

/** Milliseconds summed over all translated images (inference: summed over batches). */
export type StageTotals = Record<Stage, number>;

export interface TreeOptions {
  /** A model name in `modelsDir` or a path to a model folder. */
  model: string;
  modelsDir: string;
  direction: Direction;
  input: string;
  output: string;
  size: SizeMode;
  fit: Fit;
  /** One output format, or `auto`: each file's own family (inputTree.ts). */
  format: TreeFormat;
  /** Tiled execution: `auto` (default) by the tile budget, `off`, or a tile side. */
  tile?: TileChoice;
  /** Translate again even when the output file exists. */
  overwrite: boolean;
  shard: Shard;
  engine: EngineSettings;
  logger?: Logger;
  /** Aborting stops taking new files; images in flight are finished and written. */
  signal?: AbortSignal;
  onStart?(plan: Plan): void;
  onFile?(outcome: FileOutcome): void;
}

export interface Plan {
  model: string;
  provider: string;
  /** Images in the whole tree, and this shard's share of them. */
  inTree: number;
  files: number;
}

export type FileStatus = 'done' | 'skipped' | 'failed';

export interface FileOutcome {
  /** Input path relative to the input folder. */
  file: string;
  output: string;
  status: FileStatus;
  reason?: string;
}

export interface TreeSummary {
  model: string;
  direction: Direction;
  provider: string;
  shard: Shard;
  inTree: number;
  files: number;
  /** Non-image files in the tree (by extension), not counted anywhere else. */
  ignored: number;
  done: number;
  skipped: number;
  failed: { file: string; reason: string }[];
  /** True when the signal stopped the run before every file was handled. */
  interrupted: boolean;
  seconds: number;
  /** Translated images per second of run time (skipped files not counted). */
  imagesPerSecond: number;
  batches: number;
  meanBatchSize: number;
  /** Mean milliseconds per translated image in each stage (inference: batch time shared by its images). */
  msPerImage: StageTotals;
}

/** The flags that raise each pixel limit, named in the message. */
function messageOf(e: unknown): string {
  if (e instanceof ImageError && e.limit)
    return `${firstLine(e)} (--${e.limit === 'input' ? 'max_input_pixels' : 'max_pixels'})`;
  return firstLine(e);
}

function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? firstLine(e);
}

async function isFile(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => null))?.isFile() ?? false;
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

export async function translateTree(o: TreeOptions): Promise<TreeSummary> {
  try {
    checkShard(o.shard);
  } catch (e) {
    throw new TranslateError(
      `${(e as Error).message} (--shard_index/--shard_count, or JOB_COMPLETION_INDEX/SHARD_COUNT)`,
    );
  }
  const input = path.resolve(o.input);
  const output = path.resolve(o.output);
  const stat = await fs.stat(input).catch(() => null);
  if (!stat) throw new TranslateError(`input folder ${o.input} does not exist`);
  if (!stat.isDirectory()) throw new TranslateError(`input ${o.input} is not a folder`);
  if (input === output)
    throw new TranslateError('--output must differ from --input (outputs would replace the inputs)');
  const model = await resolveModel(o.model, o.modelsDir);
  checkDirection(model, o.direction);
  try {
    await fs.mkdir(output, { recursive: true });
  } catch (e) {
    throw new TranslateError(`output folder ${o.output} cannot be created (${errnoText(e)})`);
  }

  let listing;
  try {
    listing = await listInputs(input, isInside(output, input) ? output : undefined);
  } catch (e) {
    throw new TranslateError(`input folder ${o.input} cannot be read (${errnoText(e)})`);
  }
  const targets = outputPaths(listing.images, o.format);
  const mine = selectShard(listing.images, o.shard);

  let translator: Model;
  try {
    translator = await openModel(model.dir, {
      directions: [o.direction],
      providers: o.engine.executionProviders,
      session: { intraOpThreads: o.engine.threads },
      maxBatch: o.engine.batchSize,
      batchDelayMs: o.engine.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS,
      maxQueue: Math.max(1, o.engine.concurrency),
      limits: { maxPixels: o.engine.maxPixels, maxInputPixels: o.engine.maxInputPixels },
      tiling: o.engine.tiling,
    });
  } catch (e) {
    throw new TranslateError(`model ${model.dir} could not be loaded: ${(e as Error).message}`);
  }
  // One line for the model, naming its provider and, when some were skipped, why.
  const skippedText = translator.skipped.map((p) => `${p.provider} unavailable: ${p.reason}`).join('; ');
  o.logger?.[skippedLogLevel(translator.skipped)](
    `model '${translator.name}' (${translator.directions.join(', ')}) on ${translator.executionProvider}, ` +
      `warmed up in ${Math.round(translator.warmupMs)} ms` +
      (skippedText ? ` (${skippedText})` : ''),
  );
  const stats = { batches: 0, batchedImages: 0, ms: { decode: 0, preprocess: 0, queue: 0, inference: 0, encode: 0 } };
  translator.onBatch = (_direction, size, ms) => {
    stats.batches++;
    stats.batchedImages += size;
    stats.ms.inference += ms;
  };
  const summary: TreeSummary = {
    model: translator.name,
    direction: o.direction,
    provider: translator.providers[o.direction] ?? translator.executionProvider,
    shard: o.shard,
    inTree: listing.images.length,
    files: mine.length,
    ignored: listing.ignored,
    done: 0,
    skipped: 0,
    failed: [],
    interrupted: false,
    seconds: 0,
    imagesPerSecond: 0,
    batches: 0,
    meanBatchSize: 0,
    msPerImage: { decode: 0, preprocess: 0, queue: 0, inference: 0, encode: 0 },
  };
  o.onStart?.({ model: summary.model, provider: summary.provider, inTree: summary.inTree, files: summary.files });

  let fatal: string | null = null;
  const report = (out: FileOutcome) => {
    if (out.status === 'done') summary.done++;
    else if (out.status === 'skipped') summary.skipped++;
    else summary.failed.push({ file: out.file, reason: out.reason ?? 'unknown error' });
    o.onFile?.(out);
  };

  async function handle(rel: string): Promise<void> {
    const src = path.join(input, rel);
    const dst = path.join(output, targets.get(rel)!);
    const outcome = (status: FileStatus, reason?: string) => report({ file: rel, output: dst, status, reason });
    // Outputs are only ever renamed into place complete, so an existing one is a finished one.
    if (!o.overwrite && (await isFile(dst))) return outcome('skipped');
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(src);
    } catch (e) {
      return outcome('failed', `cannot read (${errnoText(e)})`);
    }
    let result;
    try {
      result = await translator.translate(bytes, {
        direction: o.direction,
        size: o.size,
        fit: o.fit,
        format: fileOutputFormat(rel, o.format),
        tile: o.tile,
        // Inference time is counted per batch (onBatch), not once per image of it; tiled images have their own.
        onStage: (stage, ms) => stage !== 'inference' && (stats.ms[stage] += ms),
      });
      if (result.tiles > 0) stats.ms.inference += result.inferenceMs;
    } catch (e) {
      if (!translator.alive) fatal ??= firstLine(e);
      return outcome('failed', messageOf(e));
    }
    try {
      await fs.mkdir(path.dirname(dst), { recursive: true });
      await writeFileAtomic(dst, result.bytes);
    } catch (e) {
      return outcome('failed', `cannot write ${dst} (${errnoText(e)})`);
    }
    outcome('done');
  }

  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < mine.length && fatal === null && !o.signal?.aborted) await handle(mine[next++]);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.engine.concurrency, mine.length) }, lane));
  } finally {
    await translator.close();
  }
  if (fatal !== null) throw new TranslateError(`inference stopped after ${summary.done} image(s): ${fatal}`);

  summary.interrupted = next < mine.length;
  summary.seconds = (performance.now() - started) / 1000;
  summary.imagesPerSecond = summary.seconds > 0 ? summary.done / summary.seconds : 0;
  const s = stats;
  summary.batches = s.batches;
  summary.meanBatchSize = s.batches > 0 ? s.batchedImages / s.batches : 0;
  const n = Math.max(1, s.batchedImages);
  for (const k of Object.keys(summary.msPerImage) as (keyof StageTotals)[]) summary.msPerImage[k] = s.ms[k] / n;
  return summary;
}
