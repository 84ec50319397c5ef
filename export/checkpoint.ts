/**
 * Reading training checkpoints for export: `<checkpoints_dir>/<name>/<epoch>.ckpt` tensor files
 * (core/io/tensorFile.ts) written by the trainer, with generator weights under `net.G_A.` /
 * `net.G_B.` in PyTorch state_dict layout and the official snake_case options in the meta.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { GeneratorOptions } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import { readTensorFile } from '../core/io/tensorFile';
import { CHECKPOINT_EXT, CHECKPOINT_FORMAT, checkpointPath } from '../core/checkpointLayout';

export { CHECKPOINT_FORMAT, checkpointPath };

/** The options export needs; everything else in the checkpoint's options is passed through. */
const optionsSchema = z
  .object({
    netG: z.string().min(1),
    ngf: z.number().int().positive(),
    norm: z.enum(['instance', 'batch', 'none']),
    input_nc: z.number().int().positive(),
    output_nc: z.number().int().positive(),
    no_dropout: z.boolean(),
    crop_size: z.number().int().positive(),
  })
  .passthrough();

export type CheckpointOptions = z.infer<typeof optionsSchema>;

const metaSchema = z
  .object({
    format: z.string(),
    options: z.record(z.unknown()),
    epoch: z.number().int().nonnegative(),
    iteration: z.number().int().nonnegative().optional(),
  })
  .passthrough();

export interface Checkpoint {
  file: string;
  options: CheckpointOptions;
  epoch: number;
  /** Generator weights without their `net.G_A.` / `net.G_B.` prefix. */
  G_A: StateDict;
  G_B: StateDict;
}

/** `latest` or a non-negative epoch number, as the official --epoch takes it. */
export function parseEpoch(epoch: string): string {
  if (epoch === 'latest' || /^\d+$/.test(epoch)) return epoch === 'latest' ? epoch : String(Number(epoch));
  throw new Error(`--epoch must be 'latest', 'all' or an epoch number, got '${epoch}'`);
}

/** Numbered epochs saved for one run, ascending. */
export async function listEpochs(runDir: string): Promise<number[]> {
  const files = await fs.readdir(runDir);
  return files
    .map((f) => /^(\d+)\.ckpt$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Run folders (direct subfolders holding at least one `.ckpt`), by name. */
export async function listRuns(checkpointsDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(checkpointsDir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`cannot read checkpoints folder ${checkpointsDir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const runs: string[] = [];
  for (const d of entries) {
    if (!d.isDirectory()) continue;
    const files = await fs.readdir(path.join(checkpointsDir, d.name));
    if (files.some((f) => f.endsWith(CHECKPOINT_EXT))) runs.push(d.name);
  }
  return runs.sort();
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  try {
    await fs.access(file);
  } catch {
    const dir = path.dirname(file);
    let saved: string[] = [];
    try {
      saved = (await fs.readdir(dir)).filter((f) => f.endsWith(CHECKPOINT_EXT));
    } catch {
      throw new Error(`checkpoint not found: ${file} (no folder ${dir})`);
    }
    const hint = saved.length ? `saved: ${saved.sort().join(', ')}` : 'no checkpoints saved there';
    throw new Error(`checkpoint not found: ${file} (${hint})`);
  }
  const { meta, tensors } = await readTensorFile(file);
  const m = metaSchema.safeParse(meta);
  if (!m.success) throw new Error(`${file}: not a cyclegan-ts checkpoint (${describe(m.error)})`);
  if (m.data.format !== CHECKPOINT_FORMAT)
    throw new Error(`${file}: checkpoint format '${m.data.format}', expected '${CHECKPOINT_FORMAT}'`);
  const o = optionsSchema.safeParse(m.data.options);
  if (!o.success) throw new Error(`${file}: checkpoint options: ${describe(o.error)}`);
  const byNet = (prefix: string): StateDict => {
    const out: StateDict = new Map();
    for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
    return out;
  };
  return { file, options: o.data, epoch: m.data.epoch, G_A: byNet('net.G_A.'), G_B: byNet('net.G_B.') };
}

function describe(e: z.ZodError): string {
  const i = e.issues[0];
  return `'${i.path.join('.') || '(root)'}': ${i.message}`;
}

/** G_A maps A → B; G_B is built with input and output channels swapped. */
export function generatorOptions(o: CheckpointOptions, net: 'G_A' | 'G_B'): GeneratorOptions {
  const [inputNc, outputNc] = net === 'G_A' ? [o.input_nc, o.output_nc] : [o.output_nc, o.input_nc];
  return { netG: o.netG, inputNc, outputNc, ngf: o.ngf, norm: o.norm, useDropout: !o.no_dropout };
}
