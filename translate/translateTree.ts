/**
 * Translating a folder tree: list the images, keep this shard's share, skip those whose output
 * already exists, and run the rest through a Translator with a bounded number of images in flight
 * (reading, decoding, waiting for a batch, encoding, writing). A file that cannot be read, decoded
 * or written is reported and the run goes on; only a dead inference worker stops it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../core/io/atomicWrite';
import type { Direction } from '../core/modelManifest';
import type { OutputFormat } from '../serve/postprocess';
import type { SizeMode } from '../serve/preprocess';
import { listInputs, outputPaths } from './inputTree';
import { checkDirection, resolveModel, TranslateError } from './modelFolder';
import { checkShard, selectShard, type Shard } from './shard';
import { engineConfig, Translator, type EngineSettings, type Fit, type StageTotals } from './translator';
import { firstLine } from '../core/errorText';

export interface TreeOptions {
  /** A model name in `modelsDir` or a path to a model folder. */
  model: string;
  modelsDir: string;
  direction: Direction;
  input: string;
  output: string;
  size: SizeMode;
  fit: Fit;
  format: OutputFormat;
  /** Translate again even when the output file exists. */
  overwrite: boolean;
  shard: Shard;
  engine: EngineSettings;
  /** Where ORT_* tuning variables are read from (see engineConfig); default none. */
  env?: NodeJS.ProcessEnv;
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

  const translator = await Translator.open({
    dir: model.dir,
    direction: o.direction,
    size: o.size,
    fit: o.fit,
    format: o.format,
    config: engineConfig(o.engine, o.env),
    logger: o.logger,
  });
  const summary: TreeSummary = {
    model: translator.model.name,
    direction: o.direction,
    provider: translator.provider,
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
      result = await translator.translate(bytes);
    } catch (e) {
      if (!translator.alive) fatal ??= firstLine(e);
      return outcome('failed', firstLine(e));
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
  const s = translator.stats;
  summary.batches = s.batches;
  summary.meanBatchSize = s.batches > 0 ? s.batchedImages / s.batches : 0;
  const n = Math.max(1, s.batchedImages);
  for (const k of Object.keys(summary.msPerImage) as (keyof StageTotals)[]) summary.msPerImage[k] = s.ms[k] / n;
  return summary;
}
