/**
 * `npm run translate -- --model NAME --dir AtoB --input ./photos --output ./out [--format auto|png|jpeg|webp]`
 *
 * Batch translation of a folder tree with the server's preprocessing and onnxruntime path (see
 * translate/translateTree.ts). Declared through core/cli: snake_case flags with kebab-case aliases.
 * Exit status: 0 every image translated or already there, 1 a setup error, 2 a bad command line
 * (one line on stderr), 3 the run finished but some files failed (listed), 130 stopped by a signal.
 */
import { SingleBar } from 'cli-progress';
import pino from 'pino';
import { z } from 'zod';
import { runCommand, type CommandSpec } from '../core/cli/command';
import { EXIT } from '../core/cli/errors';
import { field } from '../core/cli/fields';
import { firstLine } from '../core/errorText';
import { directionSchema } from '../core/modelManifest';
import { FITS } from '../inference/model';
import { DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_PIXELS, parseSizeMode } from '../inference/preprocess';
import { EXECUTION_PROVIDERS } from '../core/onnx/ortRuntime';
import { DEFAULT_TILING, parseTileChoice, STATS_MODES } from '../inference/tiling/tiledTranslate';
import { TREE_FORMATS } from './inputTree';
import { TranslateError } from './modelFolder';
import { SHARD_COUNT_ENV, SHARD_INDEX_ENV } from './shard';
import { translateTree, type TreeSummary } from './translateTree';

export const EXIT_OK = EXIT.ok;
export const EXIT_ERROR = EXIT.failure;
export const EXIT_SOME_FAILED = EXIT.partial;
export const EXIT_INTERRUPTED = EXIT.interrupted;

const MAX_BATCH_SIZE = 256;

const translateOptionsSchema = z
  .object({
    model: field.text().describe('model name in --models_dir, or a path to a model folder'),
    models_dir: field.text().default('./models').describe('folder of model folders, as the server'),
    dir: field.enum(directionSchema.options).default('AtoB').describe('generator to run'),
    input: field.text().describe('folder of images, read recursively (hidden files skipped)'),
    output: field.text().describe('where the translated tree goes (created as needed)'),
    size: field
      .parsed(parseSizeMode, 'native, original or a long side in pixels')
      .default('native')
      .describe(
        "processing size: 'native' (the model's square training size, as test.py: a non-square image is squashed), " +
          "'original', or N (long side, aspect kept)",
      ),
    fit: field
      .enum(FITS)
      .default('original')
      .describe("'original': resize the output back to the input's size; 'model': keep processing size"),
    format: field
      .enum(TREE_FORMATS)
      .default('auto')
      .describe(
        "output format, the extension replaced accordingly (.png/.jpg/.webp); 'auto': as the input, by its " +
          'extension (JPEG → JPEG at quality 90, PNG → PNG, WebP → WebP, BMP/TIFF/GIF → PNG, AVIF/HEIF → JPEG)',
      ),
    batch_size: field
      .intRange(1, MAX_BATCH_SIZE)
      .default(4)
      .describe(`images of equal processed size run as one onnxruntime batch of up to n (1-${MAX_BATCH_SIZE})`),
    concurrency: field
      .int(1)
      .optional()
      .describe(
        'images in flight at once (reading, decoding, waiting for a batch, encoding) (default: 2 × batch_size + 2)',
      ),
    overwrite: field.boolean().default(false).describe('translate again even when the output file exists'),
    shard_index: field.int(0).default(0).describe("this process's share of the files, 0 ≤ i < shard_count"),
    shard_count: field
      .int(1)
      .default(1)
      .describe('number of shards; a file belongs to shard sha256(relative path) mod n'),
    execution_providers: field
      .list(EXECUTION_PROVIDERS)
      .default(['cuda', 'webgpu', 'cpu'])
      .describe('onnxruntime providers to try in order, as the server'),
    threads: field
      .intRange(0, 1024)
      .default(0)
      .describe('onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core)'),
    max_pixels: field
      .int(1)
      .default(DEFAULT_MAX_PIXELS)
      .describe('largest processing size (width × height the network runs at); larger ones fail'),
    max_input_pixels: field
      .int(1)
      .default(DEFAULT_MAX_INPUT_PIXELS)
      .describe('largest input image (width × height) decoded; larger ones fail'),
    tile: field
      .parsed(parseTileChoice, 'auto, off or a tile side in pixels')
      .default('auto')
      .describe(
        "tiled execution: 'auto' tiles processing sizes above --tile_pixels, 'off' never tiles, N uses N×N tiles " +
          '(tiles share whole-image instance-norm statistics, so there are no seams)',
      ),
    tile_pixels: field
      .intRange(4096, 2 ** 31 - 1)
      .default(DEFAULT_TILING.tilePixels)
      .describe('tile budget: with --tile auto, processing sizes above this many pixels run as tiles of this size'),
    tile_stats: field
      .enum(STATS_MODES)
      .default(DEFAULT_TILING.stats)
      .describe(
        "tiles' shared statistics: 'subsampled' or 'downscaled' (from the image point-subsampled or bicubic-reduced to " +
          "a working size) or 'exact' (slower)",
      ),
    quiet: field.boolean().default(false).describe('no progress bar or model messages; only the summary and errors'),
  })
  .strict();

type CliOptions = z.output<typeof translateOptionsSchema>;

export const translateCommand: CommandSpec<typeof translateOptionsSchema> = {
  name: 'translate',
  program: 'npm run translate --',
  summary:
    'Translate every image under --input with an exported model (same preprocessing and onnxruntime path as the ' +
    'server) into a mirrored tree under --output. Files whose output exists are skipped, so an interrupted run ' +
    'can simply be started again.',
  schema: translateOptionsSchema,
  env: {
    models_dir: 'MODELS_DIR',
    shard_index: SHARD_INDEX_ENV,
    shard_count: SHARD_COUNT_ENV,
    execution_providers: 'EXECUTION_PROVIDERS',
    threads: 'ORT_INTRA_OP_THREADS',
    max_pixels: 'MAX_PIXELS',
    max_input_pixels: 'MAX_INPUT_PIXELS',
    tile_pixels: 'TILE_PIXELS',
    tile_stats: 'TILE_STATS',
  },
  placeholders: {
    model: '<name|path>',
    models_dir: '<dir>',
    dir: '<direction>',
    input: '<dir>',
    output: '<dir>',
    size: '<size>',
    fit: '<fit>',
    format: '<format>',
    shard_index: '<i>',
    execution_providers: '<list>',
    tile: '<tile>',
    tile_stats: '<mode>',
  },
  exits: { partial: 'some files failed (listed)', interrupted: 'interrupted (SIGINT/SIGTERM)' },
};

/** The repository's pino messages as plain `translate: ...` lines on stderr. */
function plainLogger(quiet: boolean): pino.Logger {
  return pino(
    { level: quiet ? 'warn' : 'info' },
    {
      write(line: string) {
        let msg = line;
        let level = 30;
        try {
          ({ msg, level } = JSON.parse(line) as { msg: string; level: number });
        } catch {
          // not JSON: print as is
        }
        process.stderr.write(`translate: ${level >= 40 ? 'warning: ' : ''}${msg}\n`);
      },
    },
  );
}

export function formatSummary(s: TreeSummary): string[] {
  const shard = s.shard.count > 1 ? `shard ${s.shard.index}/${s.shard.count}: ${s.files} of ${s.inTree}` : `${s.files}`;
  const ignored = s.ignored > 0 ? `; ${s.ignored} non-image file(s) ignored` : '';
  const lines = [
    `translate: ${s.done} done, ${s.skipped} skipped (output exists), ${s.failed.length} failed of ${shard} image(s)${ignored}` +
      (s.interrupted ? '; interrupted' : ''),
    `translate: ${s.imagesPerSecond.toFixed(2)} images/s over ${s.seconds.toFixed(1)} s; ${s.model} ${s.direction} on ${s.provider}` +
      (s.batches > 0 ? `, mean batch ${s.meanBatchSize.toFixed(2)}` : ''),
  ];
  for (const f of s.failed) lines.push(`failed: ${f.file}: ${f.reason}`);
  return lines;
}

export async function main(o: CliOptions): Promise<number> {
  const concurrency = o.concurrency ?? 2 * o.batch_size + 2;

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(EXIT_INTERRUPTED);
    process.stderr.write(`\ntranslate: ${signal}: finishing the images in flight (again to quit at once)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const bar = new SingleBar({
    format:
      'translate {bar} {percentage}% | {value}/{total} files | {rate} img/s | ETA {eta_formatted} | failed {failed}',
    hideCursor: true,
    // Not a terminal (a Job's log): a plain line every 10 s instead of redrawing.
    noTTYOutput: true,
    notTTYSchedule: 10_000,
    etaBuffer: 4 * concurrency,
  });
  let started = 0;
  let done = 0;
  let failed = 0;
  const payload = () => ({
    rate: started ? (done / ((performance.now() - started) / 1000)).toFixed(2) : '0.00',
    failed,
  });

  let summary: TreeSummary;
  try {
    summary = await translateTree({
      model: o.model,
      modelsDir: o.models_dir,
      direction: o.dir,
      input: o.input,
      output: o.output,
      size: o.size,
      fit: o.fit,
      format: o.format,
      tile: o.tile,
      overwrite: o.overwrite,
      shard: { index: o.shard_index, count: o.shard_count },
      engine: {
        executionProviders: o.execution_providers,
        threads: o.threads,
        batchSize: o.batch_size,
        concurrency,
        maxPixels: o.max_pixels,
        maxInputPixels: o.max_input_pixels,
        tiling: { tilePixels: o.tile_pixels, stats: o.tile_stats },
      },
      logger: plainLogger(o.quiet),
      signal: abort.signal,
      onStart: (plan) => {
        started = performance.now();
        if (!o.quiet) bar.start(plan.files, 0, payload());
      },
      onFile: (f) => {
        if (f.status === 'done') done++;
        if (f.status === 'failed') failed++;
        if (!o.quiet) bar.increment(1, payload());
      },
    });
  } catch (e) {
    bar.stop();
    process.stderr.write(`translate: error: ${e instanceof TranslateError ? e.message : firstLine(e)}\n`);
    return EXIT_ERROR;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  bar.stop();
  for (const line of formatSummary(summary)) process.stdout.write(`${line}\n`);
  if (summary.interrupted) return EXIT_INTERRUPTED;
  return summary.failed.length > 0 ? EXIT_SOME_FAILED : EXIT_OK;
}

if (require.main === module) runCommand(translateCommand, main);
