/**
 * Training checkpoints: `<checkpoints_dir>/<name>/<epoch>.ckpt` (`latest.ckpt`, `5.ckpt`, …), one
 * tensor file each (core/io/tensorFile.ts), written atomically so a crash or `kill -9` at any
 * moment leaves the previous complete checkpoint loadable.
 *
 * Tensor keys:
 *   net.<G_A|G_B|D_A|D_B>.<state_dict key>   weights and buffers, PyTorch layout
 *   adam.<G|D>.<m|v>.<NET>.<state_dict key>   Adam moments, tfjs layout
 *   pool.<A|B>.<i>                            image-pool contents [1,H,W,C]
 * Meta: options, epoch/iteration position, learning rate, optimiser steps, RNG state; `extra` holds
 * the seed, the dropout counter and the pools' random streams (`poolRng`).
 *
 * The one reader of checkpoints: the trainer resumes from it, and export (which needs only the
 * generators and the options that describe them) reads it too, without loading an engine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { NamedTensor, StateDict } from '../core/arch/stateDict';
import { readTensorFile, writeTensorFile } from '../core/io/tensorFile';
import { NET_NAMES, type NetName } from './model/cycleGan';
import { poolStreams, type ModelState } from './model/modelState';
import type { PoolContents } from './model/imagePool';

export const CHECKPOINT_FORMAT = 'cyclegan-ts/checkpoint@1';
const CHECKPOINT_EXT = '.ckpt';

/** `<checkpoints_dir>/<name>/<epoch>.ckpt` for `latest` or an epoch number. */
export function checkpointPath(checkpointsDir: string, name: string, epoch: string | number): string {
  const label = String(epoch);
  if (!/^(latest|\d+)$/.test(label)) throw new Error(`--epoch must be 'latest' or an epoch number (got "${label}")`);
  return path.join(checkpointsDir, name, `${label}${CHECKPOINT_EXT}`);
}

/** `latest` or a non-negative epoch number, as the official --epoch takes it. */
export function parseEpoch(epoch: string): string {
  if (epoch === 'latest' || /^\d+$/.test(epoch)) return epoch === 'latest' ? epoch : String(Number(epoch));
  throw new Error(`--epoch must be 'latest', 'all' or an epoch number, got '${epoch}'`);
}

/** Numbered epochs saved for one run, ascending (throws if the run folder cannot be read). */
export async function listEpochs(runDir: string): Promise<number[]> {
  const files = await fs.promises.readdir(runDir);
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
    entries = await fs.promises.readdir(checkpointsDir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`cannot read checkpoints folder ${checkpointsDir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const runs: string[] = [];
  for (const d of entries) {
    if (!d.isDirectory()) continue;
    const files = await fs.promises.readdir(path.join(checkpointsDir, d.name));
    if (files.some((f) => f.endsWith(CHECKPOINT_EXT))) runs.push(d.name);
  }
  return runs.sort();
}

export interface TrainPosition {
  /** Epoch in progress (1-based, official numbering). */
  epoch: number;
  /** Iterations completed inside that epoch. */
  epochIter: number;
  /** Iterations completed in the whole run. */
  totalIters: number;
  /** Images seen in the whole run (the official `total_iters`). */
  totalImages: number;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  options: Record<string, unknown>;
  epoch: number;
  iteration: number;
  position: TrainPosition;
  lr: number;
  optimizers: { G: { step: number }; D: { step: number } };
  rng: number[];
  /** Anything else the trainer needs to continue exactly (dropout seed, data order, …). */
  extra: Record<string, unknown>;
  savedAt: string;
}

export interface Checkpoint {
  file: string;
  meta: CheckpointMeta;
  /** The networks saved (export's fixtures may hold only the generators). */
  nets: Partial<Record<NetName, StateDict>>;
  adam: Record<'G' | 'D', { m: Map<string, Float32Array>; v: Map<string, Float32Array> }>;
  pools: { A: PoolContents; B: PoolContents };
}

export async function saveCheckpoint(
  file: string,
  state: ModelState,
  meta: Omit<CheckpointMeta, 'format' | 'optimizers' | 'savedAt' | 'lr'>,
): Promise<void> {
  if (!state.adam) throw new Error('saveCheckpoint: model state without optimiser state');
  const tensors = new Map<string, NamedTensor>();
  for (const n of NET_NAMES) {
    for (const [key, t] of state.nets[n]) tensors.set(`net.${n}.${key}`, t);
  }
  const shapes = new Map<string, number[]>(
    NET_NAMES.flatMap((n) => [...state.nets[n]].map(([k, t]) => [`${n}.${k}`, t.shape] as const)),
  );
  for (const opt of ['G', 'D'] as const) {
    for (const which of ['m', 'v'] as const) {
      for (const [key, data] of state.adam[opt][which]) {
        tensors.set(`adam.${opt}.${which}.${key}`, { shape: tfjsLayout(shapes.get(key), key), data });
      }
    }
  }
  for (const side of ['A', 'B'] as const) {
    state.pools[side].images.forEach((img, i) => tensors.set(`pool.${side}.${i}`, img));
  }
  const full: CheckpointMeta = {
    ...meta,
    format: CHECKPOINT_FORMAT,
    lr: state.lr,
    optimizers: { G: { step: state.adam.G.step }, D: { step: state.adam.D.step } },
    extra: { ...meta.extra, dropoutCounter: state.dropoutCounter, poolRng: state.poolRng },
    savedAt: new Date().toISOString(),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeTensorFile(file, full, tensors);
}

/** Adam moments keep the parameter's tfjs layout: kernels (the only rank-4 parameters) permuted as in networks.ts. */
function tfjsLayout(torchShape: number[] | undefined, key: string): number[] {
  if (!torchShape) throw new Error(`saveCheckpoint: optimiser moment for unknown parameter '${key}'`);
  return torchShape.length === 4 ? [2, 3, 1, 0].map((i) => torchShape[i]) : [...torchShape];
}

const metaSchema = z
  .object({
    format: z.string(),
    options: z.record(z.unknown()),
    epoch: z.number().int().nonnegative(),
    iteration: z.number().int().nonnegative().optional(),
  })
  .passthrough();

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  if (!fs.existsSync(file)) {
    const dir = path.dirname(file);
    let saved: string[];
    try {
      saved = fs.readdirSync(dir).filter((f) => f.endsWith(CHECKPOINT_EXT));
    } catch {
      throw new Error(`checkpoint not found: ${file} (no folder ${dir})`);
    }
    const hint = saved.length ? `saved: ${saved.sort().join(', ')}` : 'no checkpoints saved there';
    throw new Error(`checkpoint not found: ${file} (${hint})`);
  }
  const { meta, tensors } = await readTensorFile(file);
  const m = metaSchema.safeParse(meta);
  if (!m.success) throw new Error(`${file}: not a cyclegan-ts checkpoint (${describeIssue(m.error)})`);
  if (m.data.format !== CHECKPOINT_FORMAT)
    throw new Error(`${file}: checkpoint format '${m.data.format}', expected '${CHECKPOINT_FORMAT}'`);
  const nets: Checkpoint['nets'] = {};
  const adam = { G: { m: new Map(), v: new Map() }, D: { m: new Map(), v: new Map() } };
  const pools: { A: PoolContents; B: PoolContents } = { A: { images: [] }, B: { images: [] } };
  for (const [key, t] of tensors) {
    let r: RegExpExecArray | null;
    if ((r = /^net\.(G_A|G_B|D_A|D_B)\.(.+)$/.exec(key))) (nets[r[1] as NetName] ??= new Map()).set(r[2], t);
    else if ((r = /^adam\.(G|D)\.(m|v)\.(.+)$/.exec(key))) adam[r[1] as 'G' | 'D'][r[2] as 'm' | 'v'].set(r[3], t.data);
    else if ((r = /^pool\.(A|B)\.(\d+)$/.exec(key))) pools[r[1] as 'A' | 'B'].images[Number(r[2])] = t;
    else throw new Error(`${file}: unexpected tensor '${key}'`);
  }
  return { file, meta: m.data as unknown as CheckpointMeta, nets, adam, pools };
}

function describeIssue(e: z.ZodError): string {
  const i = e.issues[0];
  return `'${i.path.join('.') || '(root)'}': ${i.message}`;
}

/** The options that describe the generators; everything else in the checkpoint's options is passed through. */
const architectureSchema = z
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

export type CheckpointOptions = z.infer<typeof architectureSchema>;

/** The checkpoint's options, checked for what building its generators needs. */
export function checkpointOptions(ck: Checkpoint): CheckpointOptions {
  const o = architectureSchema.safeParse(ck.meta.options);
  if (!o.success) throw new Error(`${ck.file}: checkpoint options: ${describeIssue(o.error)}`);
  return o.data;
}

/** The weights of network `name` (throws if the checkpoint has none). */
export function checkpointNet(ck: Checkpoint, name: NetName): StateDict {
  const w = ck.nets[name];
  if (!w) throw new Error(`${ck.file}: no weights for ${name}`);
  return w;
}

/** The model part of a checkpoint. Checkpoints from before the pools had own streams get derived ones. */
export function checkpointModelState(ck: Checkpoint): ModelState {
  const extra = ck.meta.extra ?? {};
  const poolRng =
    (extra.poolRng as ModelState['poolRng'] | undefined) ?? poolStreams(Number(extra.seed), ck.meta.iteration);
  return {
    nets: {
      G_A: checkpointNet(ck, 'G_A'),
      G_B: checkpointNet(ck, 'G_B'),
      D_A: checkpointNet(ck, 'D_A'),
      D_B: checkpointNet(ck, 'D_B'),
    },
    adam: {
      G: { step: ck.meta.optimizers.G.step, ...ck.adam.G },
      D: { step: ck.meta.optimizers.D.step, ...ck.adam.D },
    },
    pools: { A: { images: ck.pools.A.images }, B: { images: ck.pools.B.images } },
    poolRng,
    dropoutCounter: Number(extra.dropoutCounter ?? 1),
    lr: ck.meta.lr,
  };
}
