/**
 * `npm run export -- --checkpoints_dir ./checkpoints --name NAME [--epoch latest] [--out models/NAME]`
 *
 * Converts training checkpoints into servable model folders (see export/README.md). Declared
 * through core/cli: snake_case flags with kebab-case aliases, one-line errors, EXIT statuses.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand, type CommandSpec } from '../core/cli/command';
import { EXIT } from '../core/cli/errors';
import { field } from '../core/cli/fields';
import { BACKENDS } from '../core/config/options';
import { firstLine } from '../core/errorText';
import { listRuns } from '../train/checkpoint';
import { exportAllEpochs, exportRun, type ExportOptions } from './exportModel';
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from './onnxBuilder';
import { FP16_TOLERANCE, FP32_TOLERANCE } from './verify';

const exportOptionsSchema = z
  .object({
    checkpoints_dir: field
      .text()
      .default('./checkpoints')
      .describe('folder holding one sub-folder of checkpoints per run'),
    name: field.text().optional().describe('run to export; without it every run under --checkpoints_dir is exported'),
    epoch: field
      .text()
      .refine((s) => /^(latest|all|\d+)$/.test(s), "must be 'latest', 'all' or an epoch number")
      .default('latest')
      .describe("'latest', an epoch number, or 'all' (every numbered epoch into <out>/epoch_N/)"),
    out: field.text().optional().describe('model folder to write (needs --name); default <models_dir>/<name>'),
    models_dir: field.text().default('./models').describe('where model folders go by default'),
    opset: field.intRange(MIN_OPSET, MAX_OPSET).default(DEFAULT_OPSET).describe('ONNX opset version'),
    fp16: field
      .boolean()
      .default(false)
      .describe(
        `also write half-precision copies (AtoB.fp16.onnx, ...; float32 input/output), verified to max abs error ${FP16_TOLERANCE}`,
      ),
    no_verify: field
      .boolean()
      .default(false)
      .describe(`skip checking the graphs against the reference (fp32 bound ${FP32_TOLERANCE})`),
    reference: field
      .enum(['tfjs', 'float64'])
      .default('tfjs')
      .describe(
        "what the graphs are checked against: tfjs (the trainer's generator, fast) or float64 (an independent plain TypeScript forward pass, slow)",
      ),
    backend: field.enum(BACKENDS).default('auto').describe('tfjs backend for --reference tfjs'),
    quiet: field.boolean().default(false).describe('print only errors and the written folders'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.out !== undefined && o.name === undefined)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['out'],
        message: '--out needs --name (without it each run goes to <models_dir>/<run>)',
        params: { complete: true },
      });
  });

type CliOptions = z.output<typeof exportOptionsSchema>;

export const exportCommand: CommandSpec<typeof exportOptionsSchema> = {
  name: 'export',
  program: 'npm run export --',
  summary:
    'Convert CycleGAN training checkpoints into model folders (AtoB.onnx, BtoA.onnx, model.json) ' +
    'that the server loads. Each graph is checked against a reference forward pass before anything is written.',
  schema: exportOptionsSchema,
  placeholders: { checkpoints_dir: '<dir>', name: '<run>', epoch: '<epoch>', out: '<dir>', models_dir: '<dir>' },
};

/** The verification reference: tfjs (loaded only here, and only when verifying against it) or the float64 default. */
type Reference = Pick<ExportOptions, 'reference' | 'referenceName'>;

async function exportOne(
  run: string,
  o: CliOptions,
  out: string,
  reference: Reference,
  log: (s: string) => void,
): Promise<void> {
  const opts: ExportOptions = { out, opset: o.opset, fp16: o.fp16, verify: !o.no_verify, log, ...reference };
  if (o.epoch === 'all') {
    const results = await exportAllEpochs(o.checkpoints_dir, run, opts);
    console.log(`wrote ${out} (${results.length} epochs: ${results.map((r) => path.basename(r.out)).join(', ')})`);
  } else {
    const r = await exportRun(o.checkpoints_dir, run, o.epoch, opts);
    console.log(`wrote ${r.out} (epoch ${r.manifest.epoch})`);
  }
}

/** Exports one run, or every run under --checkpoints_dir; returns the exit status. */
export async function main(o: CliOptions): Promise<number> {
  const log = o.quiet ? () => {} : (s: string) => console.log(s);
  const verify = !o.no_verify;
  const reference: Reference =
    verify && o.reference === 'tfjs' ? await (await import('./tfjsReference')).openTfjsReference(o.backend, log) : {};
  if (o.name !== undefined) {
    await exportOne(o.name, o, o.out ?? path.join(o.models_dir, o.name), reference, log);
    return EXIT.ok;
  }
  const runs = await listRuns(o.checkpoints_dir);
  if (runs.length === 0)
    throw new Error(`no checkpoint folders (sub-folders with .ckpt files) under ${o.checkpoints_dir}`);
  const failed: string[] = [];
  for (const run of runs) {
    try {
      await exportOne(run, o, path.join(o.models_dir, run), reference, log);
    } catch (e) {
      console.error(`export: error: ${run}: ${firstLine(e)}`);
      failed.push(run);
    }
  }
  if (failed.length === 0) return EXIT.ok;
  console.error(`export: ${failed.length} of ${runs.length} runs failed: ${failed.join(', ')}`);
  return EXIT.failure;
}

if (require.main === module) runCommand(exportCommand, main);
