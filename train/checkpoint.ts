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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NamedTensor, StateDict } from '../core/arch/stateDict';
import { readTensorFile, writeTensorFile } from '../core/io/tensorFile';
import { CHECKPOINT_FORMAT, checkpointPath } from '../core/checkpointLayout';

export { CHECKPOINT_FORMAT, checkpointPath };
import { NET_NAMES, type NetName } from './model/cycleGan';
import { poolStreams, type ModelState } from './model/modelState';

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

/** Epoch labels saved for a run: `latest` first, then numbers ascending. */
export function listCheckpoints(runDir: string): string[] {
  if (!fs.existsSync(runDir)) return [];
  const labels = fs
    .readdirSync(runDir)
    .map((f) => /^(latest|\d+)\.ckpt$/.exec(f)?.[1])
    .filter((x): x is string => x !== undefined);
  return labels.sort((a, b) => (a === 'latest' ? -1 : b === 'latest' ? 1 : Number(a) - Number(b)));
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

/** The model part of a checkpoint. Checkpoints from before the pools had own streams get derived ones. */
export function checkpointModelState(ck: Checkpoint): ModelState {
  const extra = ck.meta.extra;
  const poolRng =
    (extra.poolRng as ModelState['poolRng'] | undefined) ?? poolStreams(Number(extra.seed), ck.meta.iteration);
  return {
    nets: ck.nets,
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
