/**
 * PyTorch generator files (official pytorch-CycleGAN-and-pix2pix checkpoints) → model folder,
 * through the same writer as `npm run export`: graphs built from the shared spec, verified, written
 * atomically. Every file is read and matched to the architecture before anything is written.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readPthFile } from '../core/pth/readPth';
import { fitGenerator, officialCheckpointFile } from '../core/pth/officialCheckpoint';
import type { ImportOptions } from './importOptions';
import type { CheckpointOptions } from '../train/checkpoint';
import { generatorOptions } from '../train/model/cycleGan';
import { writeModelFolder, type ExportOptions, type ExportResult, type GeneratorSource } from './exportModel';

export type ImportArchitecture = Pick<
  ImportOptions,
  'netG' | 'ngf' | 'norm' | 'input_nc' | 'output_nc' | 'no_dropout' | 'crop_size'
>;

/** The generator files of a model: AtoB always, BtoA when the model has both directions. */
export interface PthFiles {
  AtoB: string;
  BtoA?: string;
}

/**
 * An official folder's generators: a training run's `<dir>/<name>/<epoch>_net_G_A.pth` and
 * `_G_B.pth`, or, when it has no G_A, a pretrained test model's single `<epoch>_net_G.pth` (AtoB).
 */
export async function runGeneratorFiles(checkpointsDir: string, name: string, epoch: string): Promise<PthFiles> {
  const dir = path.join(checkpointsDir, name);
  const run = { AtoB: officialCheckpointFile(dir, epoch, 'G_A'), BtoA: officialCheckpointFile(dir, epoch, 'G_B') };
  const single = officialCheckpointFile(dir, epoch, 'G');
  const exists = (f: string) =>
    fs.access(f).then(
      () => true,
      () => false,
    );
  return !(await exists(run.AtoB)) && (await exists(single)) ? { AtoB: single } : run;
}

/** `latest_net_G.pth` → `latest`, `15_net_G_A.pth` → 15; other names → `latest`. */
function epochOf(file: string): number | string {
  const m = /^(latest|\d+)_net_/.exec(path.basename(file));
  return !m || m[1] === 'latest' ? 'latest' : Number(m[1]);
}

/** Reads and fits the generators; throws (naming file and tensors) if they do not match `arch`. */
export async function loadPthGenerators(files: PthFiles, arch: ImportArchitecture): Promise<GeneratorSource> {
  const options: CheckpointOptions = { ...arch, load_size: arch.crop_size };
  const load = async (file: string, net: 'G_A' | 'G_B') => {
    const { tensors } = await readPthFile(file);
    return fitGenerator(tensors, generatorOptions(options, net === 'G_A' ? 'AtoB' : 'BtoA'), file).weights;
  };
  return {
    file: files.AtoB,
    options,
    epoch: epochOf(files.AtoB),
    G_A: await load(files.AtoB, 'G_A'),
    ...(files.BtoA ? { G_B: await load(files.BtoA, 'G_B') } : {}),
  };
}

export async function importPth(
  files: PthFiles,
  name: string,
  arch: ImportArchitecture,
  opts: ExportOptions,
): Promise<ExportResult> {
  const source = await loadPthGenerators(files, arch);
  const from = [files.AtoB, files.BtoA].filter(Boolean).map((f) => path.basename(f!));
  const description =
    `Imported from PyTorch checkpoint${from.length > 1 ? 's' : ''} ${from.join(', ')}` +
    (files.BtoA ? '' : '; AtoB only (the file holds one generator)');
  return writeModelFolder(async () => source, name, { description, ...opts });
}
