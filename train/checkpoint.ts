/**
 * Training checkpoints: `<checkpoints_dir>/<name>/<epoch>.ckpt` (`latest.ckpt`, `5.ckpt`, …), one
 * tensor file each (core/io/tensorFile.ts), written atomically so a crash or `kill -9` at any
 * moment leaves the previous complete checkpoint loadable.
 *
 * Tensor keys:
 *   net.<G_A|G_B|D_A|D_B>.<state_dict key>   weights and buffers, PyTorch layout
 *   adam.<G|D>.<m|v>.<NET>.<state_dict key>   Adam moments, tfjs layout
 *   pool.<A|B>.<i>                            image-pool contents [1,H,W,C]
 * Meta: options, epoch/iteration position, learning rate, optimiser steps, RNG and data-order state.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NamedTensor, StateDict } from '../core/arch/stateDict';
import { readTensorFile, writeTensorFile } from '../core/io/tensorFile';
import type { Adam } from './adam';
import { NET_NAMES, type NetName, type CycleGanModel } from './cycleGanModel';

export const CHECKPOINT_FORMAT = 'cyclegan-ts/checkpoint@1';

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

export interface PoolContents {
  images: NamedTensor[];
}

export interface Checkpoint {
  meta: CheckpointMeta;
  nets: Record<NetName, StateDict>;
  adam: Record<'G' | 'D', { m: Map<string, Float32Array>; v: Map<string, Float32Array> }>;
  pools: { A: PoolContents; B: PoolContents };
}

export function checkpointPath(checkpointsDir: string, name: string, epoch: string | number): string {
  const label = String(epoch);
  if (!/^(latest|\d+)$/.test(label)) throw new Error(`--epoch must be 'latest' or an epoch number (got "${label}")`);
  return path.join(checkpointsDir, name, `${label}.ckpt`);
}

/** Epoch labels saved for a run: `latest` first, then numbers ascending. */
export function listCheckpoints(runDir: string): string[] {
  if (!fs.existsSync(runDir)) return [];
  const labels = fs
    .readdirSync(runDir)
    .map((f) => /^(latest|\d+)\.ckpt$/.exec(f)?.[1])
    .filter((x): x is string => x !== undefined);
  return labels.sort((a, b) => (a === 'latest' ? -1 : b === 'latest' ? 1 : Number(a) - Number(b)));
}

async function adamTensors(prefix: string, opt: Adam, out: Map<string, NamedTensor>): Promise<void> {
  const s = opt.state();
  for (const [which, map] of [
    ['m', s.m],
    ['v', s.v],
  ] as const) {
    for (const [key, t] of map) {
      out.set(`${prefix}.${which}.${key}`, { shape: [...t.shape], data: (await t.data()) as Float32Array });
    }
  }
}

export async function saveCheckpoint(
  file: string,
  model: CycleGanModel,
  pools: { A: PoolContents; B: PoolContents },
  meta: Omit<CheckpointMeta, 'format' | 'optimizers' | 'savedAt' | 'lr'>,
): Promise<void> {
  const tensors = new Map<string, NamedTensor>();
  for (const n of NET_NAMES) {
    for (const [key, t] of await model.nets[n].toStateDict()) tensors.set(`net.${n}.${key}`, t);
  }
  await adamTensors('adam.G', model.optG, tensors);
  await adamTensors('adam.D', model.optD, tensors);
  for (const side of ['A', 'B'] as const) {
    pools[side].images.forEach((img, i) => tensors.set(`pool.${side}.${i}`, img));
  }
  const full: CheckpointMeta = {
    ...meta,
    format: CHECKPOINT_FORMAT,
    lr: model.learningRate,
    optimizers: { G: { step: model.optG.step }, D: { step: model.optD.step } },
    savedAt: new Date().toISOString(),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeTensorFile(file, full, tensors);
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  if (!fs.existsSync(file)) throw new Error(`checkpoint not found: ${file}`);
  const { meta, tensors } = await readTensorFile<CheckpointMeta>(file);
  if (!meta || meta.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: not a ${CHECKPOINT_FORMAT} checkpoint`);
  const nets = Object.fromEntries(NET_NAMES.map((n) => [n, new Map()])) as Record<NetName, StateDict>;
  const adam = { G: { m: new Map(), v: new Map() }, D: { m: new Map(), v: new Map() } };
  const pools: { A: PoolContents; B: PoolContents } = { A: { images: [] }, B: { images: [] } };
  for (const [key, t] of tensors) {
    let m: RegExpExecArray | null;
    if ((m = /^net\.(G_A|G_B|D_A|D_B)\.(.+)$/.exec(key))) nets[m[1] as NetName].set(m[2], t);
    else if ((m = /^adam\.(G|D)\.(m|v)\.(.+)$/.exec(key))) adam[m[1] as 'G' | 'D'][m[2] as 'm' | 'v'].set(m[3], t.data);
    else if ((m = /^pool\.(A|B)\.(\d+)$/.exec(key))) pools[m[1] as 'A' | 'B'].images[Number(m[2])] = t;
    else throw new Error(`${file}: unexpected tensor '${key}'`);
  }
  for (const n of NET_NAMES) if (nets[n].size === 0) throw new Error(`${file}: no weights for ${n}`);
  return { meta, nets, adam, pools } as Checkpoint;
}
