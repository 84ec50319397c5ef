/** The trainer's two command lines, declared through the project's CLI layer (core/cli). */
import type { CommandSpec } from '../core/cli/command';
import { testOptionsSchema, trainOptionsSchema } from './trainOptions';

export const trainCommand: CommandSpec<typeof trainOptionsSchema> = {
  name: 'train',
  program: 'npm run train --',
  summary: 'Train a CycleGAN on DATAROOT/trainA and DATAROOT/trainB (options as in the official train.py).',
  schema: trainOptionsSchema,
  exits: { interrupted: "interrupted (Ctrl-C/SIGTERM; 'latest' was saved)" },
  // Worker threads and the wasm backend may hold the event loop open after the run.
  exit: 'immediately',
};

export const testCommand: CommandSpec<typeof testOptionsSchema> = {
  name: 'test-translate',
  program: 'npm run test-translate --',
  summary: 'Translate DATAROOT/testA (or testB with --direction BtoA) with a trained checkpoint.',
  schema: testOptionsSchema,
  exit: 'immediately',
};
