/**
 * `npm run import` options (official PyTorch .pth generators → model folder). Architecture flags
 * and their defaults are the training ones, i.e. the official ones.
 */
import { z } from 'zod';
import { optionField, withCrossChecks, type OptionIssue } from '../core/config/options';
import { backendOption, trainOptionsShape } from '../train/trainOptions';

const { int: intType, boolean: booleanType, enum: enumType, text: textType } = optionField;
const plainNameType = optionField.plainName;

export const importOptionsShape = {
  pth: textType()
    .optional()
    .describe('a PyTorch generator file (e.g. a pretrained latest_net_G.pth): the AtoB direction'),
  pth_BtoA: textType().optional().describe('the opposite generator file, for a model with both directions'),
  checkpoints_dir: textType()
    .optional()
    .describe(
      'instead of --pth: an official checkpoints folder; imports <name>/<epoch>_net_G_A.pth and _G_B.pth (a run), or <name>/<epoch>_net_G.pth (a pretrained test model)',
    ),
  name: plainNameType().describe('model name (and the run folder under --checkpoints_dir)'),
  epoch: trainOptionsShape.epoch,
  netG: trainOptionsShape.netG,
  ngf: trainOptionsShape.ngf,
  norm: trainOptionsShape.norm,
  input_nc: trainOptionsShape.input_nc,
  output_nc: trainOptionsShape.output_nc,
  no_dropout: trainOptionsShape.no_dropout,
  crop_size: intType(1).default(256).describe("the model's preferred input size (the training crop size)"),
  out: textType().optional().describe('model folder to write (default: models/<name>)'),
  reference: enumType(['float64', 'tfjs'])
    .default('float64')
    .describe(
      "what the graphs are checked against: float64 (an independent plain TypeScript forward pass) or tfjs (the trainer's generator in float32: faster, but on deep nets its own rounding can approach the 1e-4 bound)",
    ),
  verify_size: intType(1)
    .default(32)
    .describe(
      'side of the square test input the graphs are checked on (and a half-height one), rounded up to what the generator needs; the weights and graph checked are the same at any size',
    ),
  backend: backendOption(),
  quiet: booleanType().default(false).describe('print only errors and the written folder'),
};

export type ImportOptions = z.output<z.ZodObject<typeof importOptionsShape>>;

function crossCheckImport(o: ImportOptions): OptionIssue[] {
  if ((o.pth === undefined) === (o.checkpoints_dir === undefined))
    return [{ path: 'pth', message: 'give either --pth FILE or --checkpoints_dir DIR (with --name)' }];
  if (o.pth_BtoA !== undefined && o.pth === undefined)
    return [{ path: 'pth_BtoA', message: '--pth_BtoA goes with --pth (the AtoB generator)' }];
  return [];
}

export const importOptionsSchema = withCrossChecks(importOptionsShape, crossCheckImport);
