/**
 * `npm run export -- --checkpoints_dir ./checkpoints --name NAME [--epoch latest] [--out models/NAME]`
 *
 * Converts training checkpoints into servable model folders (see export/README.md). Flags use the
 * official snake_case names; kebab-case spellings are accepted as aliases.
 */
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pkg from '../package.json';
import { listRuns } from './checkpoint';
import { exportAllEpochs, exportRun, type ExportOptions } from './exportModel';
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from './onnxBuilder';
import { FP16_TOLERANCE, FP32_TOLERANCE } from './verify';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendChoice } from '../core/tf/backend';
import { tfjsReference } from './tfjsReference';

/** Kebab-case aliases → the canonical flag commander knows. */
const ALIASES: Record<string, string> = {
  '--checkpoints-dir': '--checkpoints_dir',
  '--models-dir': '--models_dir',
  '--no_verify': '--no-verify',
};

function canonicalArgs(args: string[]): string[] {
  return args.map((a) => {
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    const canonical = ALIASES[flag];
    return canonical ? canonical + (eq < 0 ? '' : a.slice(eq)) : a;
  });
}

function parseOpset(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < MIN_OPSET || n > MAX_OPSET)
    throw new InvalidArgumentError(`expected an integer from ${MIN_OPSET} to ${MAX_OPSET}`);
  return n;
}

interface CliOptions {
  checkpoints_dir: string;
  name?: string;
  epoch: string;
  out?: string;
  models_dir: string;
  opset: number;
  fp16: boolean;
  verify: boolean;
  reference: 'tfjs' | 'float64';
  backend: string;
  quiet: boolean;
}

function program(): Command {
  return new Command('npm run export --')
    .description(
      'Convert CycleGAN training checkpoints into model folders (AtoB.onnx, BtoA.onnx, model.json) ' +
        'that the server loads. Each graph is checked against a reference forward pass before anything is written.',
    )
    .option(
      '--checkpoints_dir <dir>',
      'folder holding one sub-folder of checkpoints per run (alias --checkpoints-dir)',
      './checkpoints',
    )
    .option('--name <name>', 'run to export; without it every run under --checkpoints_dir is exported')
    .option(
      '--epoch <epoch>',
      "'latest', an epoch number, or 'all' (every numbered epoch into <out>/epoch_N/)",
      'latest',
    )
    .option('--out <dir>', 'model folder to write (needs --name); default <models_dir>/<name>')
    .option('--models_dir <dir>', 'where model folders go by default (alias --models-dir)', './models')
    .option('--opset <n>', `ONNX opset version (${MIN_OPSET}-${MAX_OPSET})`, parseOpset, DEFAULT_OPSET)
    .option(
      '--fp16',
      `also write half-precision copies (AtoB.fp16.onnx, ...; float32 input/output), verified to max abs error ${FP16_TOLERANCE}`,
      false,
    )
    .option(
      '--no-verify',
      `skip checking the graphs against the reference (fp32 bound ${FP32_TOLERANCE}) (alias --no_verify)`,
    )
    .option(
      '--reference <impl>',
      "what the graphs are checked against: tfjs (the trainer's generator, fast) or float64 (an independent plain TypeScript forward pass, slow)",
      parseReference,
      'tfjs',
    )
    .option('--backend <name>', 'tfjs backend for --reference tfjs: auto, tensorflow, wasm or cpu', 'auto')
    .option('--quiet', 'print only errors and the written folders', false)
    .version(pkg.version)
    .allowExcessArguments(false)
    .showHelpAfterError('(run with --help for usage)');
}

async function exportOne(run: string, o: CliOptions, out: string, log: (s: string) => void): Promise<void> {
  const opts: ExportOptions = {
    out,
    opset: o.opset,
    fp16: o.fp16,
    verify: o.verify,
    log,
    reference: o.reference === 'tfjs' ? tfjsReference : undefined,
    referenceName: o.reference === 'tfjs' ? `cyclegan-ts tfjs generator (${tf.getBackend()} backend)` : undefined,
  };
  if (o.epoch === 'all') {
    const results = await exportAllEpochs(o.checkpoints_dir, run, opts);
    console.log(`wrote ${out} (${results.length} epochs: ${results.map((r) => path.basename(r.out)).join(', ')})`);
  } else {
    const r = await exportRun(o.checkpoints_dir, run, o.epoch, opts);
    console.log(`wrote ${r.out} (epoch ${r.manifest.epoch})`);
  }
}

/** One line, whatever the error carried. */
function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

function parseReference(v: string): 'tfjs' | 'float64' {
  if (v === 'tfjs' || v === 'float64') return v;
  throw new InvalidArgumentError(`--reference must be tfjs or float64 (got "${v}")`);
}

export async function main(argv: string[]): Promise<number> {
  const cmd = program();
  cmd.parse(canonicalArgs(argv.slice(2)), { from: 'user' });
  const o = cmd.opts<CliOptions>();
  const log = o.quiet ? () => {} : (s: string) => console.log(s);
  if (o.verify && o.reference === 'tfjs') {
    try {
      await initBackend(parseBackendChoice(o.backend), o.quiet ? () => {} : log);
    } catch (e) {
      console.error(`export: error: ${oneLine(e)}`);
      return 1;
    }
  }
  if (o.name !== undefined) {
    try {
      await exportOne(o.name, o, o.out ?? path.join(o.models_dir, o.name), log);
      return 0;
    } catch (e) {
      console.error(`export: error: ${oneLine(e)}`);
      return 1;
    }
  }
  if (o.out !== undefined) {
    console.error(`export: error: --out needs --name (without it each run goes to <models_dir>/<run>)`);
    return 1;
  }
  let runs: string[];
  try {
    runs = await listRuns(o.checkpoints_dir);
  } catch (e) {
    console.error(`export: error: ${oneLine(e)}`);
    return 1;
  }
  if (runs.length === 0) {
    console.error(`export: error: no checkpoint folders (sub-folders with .ckpt files) under ${o.checkpoints_dir}`);
    return 1;
  }
  const failed: string[] = [];
  for (const run of runs) {
    try {
      await exportOne(run, o, path.join(o.models_dir, run), log);
    } catch (e) {
      console.error(`export: error: ${run}: ${oneLine(e)}`);
      failed.push(run);
    }
  }
  if (failed.length) {
    console.error(`export: ${failed.length} of ${runs.length} runs failed: ${failed.join(', ')}`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(`export: error: ${oneLine(e)}`);
      process.exitCode = 1;
    },
  );
}
