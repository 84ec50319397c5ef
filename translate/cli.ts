/**
 * `npm run translate -- --model NAME --dir AtoB --input ./photos --output ./out [--format png]`
 *
 * Batch translation of a folder tree with the server's preprocessing and onnxruntime path (see
 * translate/translateTree.ts). Flags use snake_case; kebab-case spellings are accepted as aliases.
 * Exit status: 0 every image translated or already there, 1 a usage or setup error (one line on
 * stderr), 3 the run finished but some files failed (listed), 130 stopped by SIGINT/SIGTERM.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import pino from 'pino';
import pkg from '../package.json';
import { directionSchema, type Direction } from '../core/modelManifest';
import { EXECUTION_PROVIDERS, type ExecutionProviderName } from '../serve/config';
import { OUTPUT_FORMATS, type OutputFormat } from '../serve/postprocess';
import { parseSizeMode, type SizeMode } from '../serve/preprocess';
import { TranslateError } from './modelFolder';
import { SHARD_COUNT_ENV, SHARD_INDEX_ENV } from './shard';
import { FITS, type Fit } from './translator';
import { translateTree, type TreeSummary } from './translateTree';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_SOME_FAILED = 3;
export const EXIT_INTERRUPTED = 130;

const MAX_BATCH_SIZE = 256;

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `expected an integer ≥ ${min}` : `expected an integer from ${min} to ${max}`,
      );
    return n;
  };
}

function size(v: string): SizeMode {
  try {
    return parseSizeMode(v);
  } catch {
    throw new InvalidArgumentError('expected native, original or a long side in pixels');
  }
}

function providers(v: string): ExecutionProviderName[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const known: readonly string[] = EXECUTION_PROVIDERS;
  const bad = list.find((p) => !known.includes(p));
  if (list.length === 0 || bad !== undefined)
    throw new InvalidArgumentError(`expected a comma-separated list of ${EXECUTION_PROVIDERS.join(', ')}`);
  return list as ExecutionProviderName[];
}

interface CliOptions {
  model: string;
  models_dir: string;
  dir: Direction;
  input: string;
  output: string;
  size: SizeMode;
  fit: Fit;
  format: OutputFormat;
  batch_size: number;
  concurrency?: number;
  overwrite: boolean;
  shard_index: number;
  shard_count: number;
  execution_providers: ExecutionProviderName[];
  threads: number;
  max_pixels: number;
  quiet: boolean;
}

export function program(): Command {
  return new Command('npm run translate --')
    .description(
      'Translate every image under --input with an exported model (same preprocessing and onnxruntime path as the ' +
        'server) into a mirrored tree under --output. Files whose output exists are skipped, so an interrupted run ' +
        'can simply be started again. Exit status: 0 ok, 1 error, 3 some files failed (listed), 130 interrupted.',
    )
    .requiredOption('--model <name|path>', 'model name in --models_dir, or a path to a model folder')
    .addOption(
      new Option('--models_dir <dir>', 'folder of model folders, as the server (alias --models-dir)')
        .env('MODELS_DIR')
        .default('./models'),
    )
    .addOption(new Option('--dir <direction>', 'generator to run').choices(directionSchema.options).default('AtoB'))
    .requiredOption('--input <dir>', 'folder of images, read recursively (hidden files skipped)')
    .requiredOption('--output <dir>', 'where the translated tree goes (created as needed)')
    .addOption(
      new Option(
        '--size <size>',
        "processing size: 'native' (the model's square training size, as test.py), 'original', or N (long side, aspect kept)",
      )
        .argParser(size)
        .default({ kind: 'native' }, 'native'),
    )
    .addOption(
      new Option('--fit <fit>', "'original': resize the output back to the input's size; 'model': keep processing size")
        .choices(FITS)
        .default('original'),
    )
    .addOption(
      new Option('--format <format>', 'output format; the extension is replaced accordingly (.png/.jpg/.webp)')
        .choices(OUTPUT_FORMATS)
        .default('png'),
    )
    .addOption(
      new Option(
        '--batch_size <n>',
        `images of equal processed size run as one onnxruntime batch of up to n (1-${MAX_BATCH_SIZE}) (alias --batch-size)`,
      )
        .argParser(integer(1, MAX_BATCH_SIZE))
        .default(4),
    )
    .addOption(
      new Option(
        '--concurrency <n>',
        'images in flight at once (reading, decoding, waiting for a batch, encoding) (default: 2 × batch_size + 2)',
      ).argParser(integer(1)),
    )
    .option('--overwrite', 'translate again even when the output file exists', false)
    .addOption(
      new Option('--shard_index <i>', `this process's share of the files, 0 ≤ i < shard_count (alias --shard-index)`)
        .env(SHARD_INDEX_ENV)
        .argParser(integer(0))
        .default(0),
    )
    .addOption(
      new Option(
        '--shard_count <n>',
        'number of shards; a file belongs to shard sha256(relative path) mod n (alias --shard-count)',
      )
        .env(SHARD_COUNT_ENV)
        .argParser(integer(1))
        .default(1),
    )
    .addOption(
      new Option(
        '--execution_providers <list>',
        'onnxruntime providers to try in order, as the server (alias --execution-providers)',
      )
        .env('EXECUTION_PROVIDERS')
        .argParser(providers)
        .default(['cuda', 'webgpu', 'cpu'], 'cuda,webgpu,cpu'),
    )
    .addOption(
      new Option('--threads <n>', 'onnxruntime intra-op threads; 0 lets onnxruntime choose (one per core)')
        .env('ORT_INTRA_OP_THREADS')
        .argParser(integer(0, 1024))
        .default(0),
    )
    .addOption(
      new Option('--max_pixels <n>', 'largest image (width × height) accepted; larger ones fail (alias --max-pixels)')
        .env('MAX_PIXELS')
        .argParser(integer(1))
        .default(4096 * 4096),
    )
    .option('-q, --quiet', 'no progress bar or model messages; only the summary and errors', false)
    .version(pkg.version)
    .allowExcessArguments(false)
    .showHelpAfterError('(run with --help for usage)');
}

/** Kebab-case spellings of the snake_case flags → the canonical flag. */
function canonicalArgs(cmd: Command, args: string[]): string[] {
  const aliases = new Map<string, string>();
  for (const o of cmd.options) if (o.long?.includes('_')) aliases.set(o.long.replace(/_/g, '-'), o.long);
  return args.map((a) => {
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    const canonical = aliases.get(flag);
    return canonical ? canonical + (eq < 0 ? '' : a.slice(eq)) : a;
  });
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();
}

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

export async function main(argv: string[]): Promise<number> {
  const cmd = program();
  cmd.parse(canonicalArgs(cmd, argv.slice(2)), { from: 'user' });
  const o = cmd.opts<CliOptions>();
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
      overwrite: o.overwrite,
      shard: { index: o.shard_index, count: o.shard_count },
      engine: {
        executionProviders: o.execution_providers,
        threads: o.threads,
        batchSize: o.batch_size,
        concurrency,
        maxPixels: o.max_pixels,
      },
      env: process.env,
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
    process.stderr.write(`translate: error: ${e instanceof TranslateError ? e.message : oneLine(e)}\n`);
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

if (require.main === module) {
  main(process.argv).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`translate: error: ${oneLine(e)}\n`);
      process.exitCode = EXIT_ERROR;
    },
  );
}
