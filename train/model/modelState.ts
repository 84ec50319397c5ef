/**
 * The complete state of a training model, framework-neutral (weights in state_dict layout): what
 * checkpoints keep and what moves between threads. Both training-model implementations export and
 * import it, so a run saved by one resumes in the other.
 */
import { Rng } from '../../core/rng';
import type { StateDict } from '../../core/arch/stateDict';
import type { PoolContents } from './imagePool';
import { initialWeights, type ModelOptions, type NetName, type PoolName } from './cycleGan';
import { type AdamMoments } from './adamConfig';

export type Shape4 = [number, number, number, number];

/** An NHWC batch of images in [-1, 1]. */
export interface ImageBatch {
  data: Float32Array;
  shape: Shape4;
}

export type TrainingModelOptions = ModelOptions & { pool_size: number };

/** Everything about the model a checkpoint keeps (framework-neutral; weights in state_dict layout). */
export interface ModelState {
  nets: Record<NetName, StateDict>;
  /** Optimiser steps and moments keyed `NET.key`; absent for a fresh start (zero moments). */
  adam?: Record<'G' | 'D', AdamMoments>;
  /** Image pools, named by the domain of the generated images they hold (pool B: fake_B). */
  pools: Record<PoolName, PoolContents>;
  /** State of each pool's own random stream (xoshiro128** words). */
  poolRng: Record<PoolName, number[]>;
  dropoutCounter: number;
  lr: number;
}

/** The part of a ModelState one thread holds (one side's discriminator, pool and stream, or all). */
export interface PartialModelState {
  nets: Partial<Record<NetName, StateDict>>;
  adam: Record<'G' | 'D', AdamMoments>;
  pools: Partial<Record<PoolName, PoolContents>>;
  poolRng: Partial<Record<PoolName, number[]>>;
  dropoutCounter: number;
  lr: number;
}

const STREAM_POOL = 3; // Rng.derive purpose key (the data pipeline uses 1 and 2)

/**
 * Fresh pool streams for a run with `seed`. `iteration` > 0 only for checkpoints written before
 * the pools had streams of their own: they continue with streams derived from where they stopped.
 */
export function poolStreams(seed: number, iteration = 0): Record<PoolName, number[]> {
  return {
    A: Rng.derive(seed, STREAM_POOL, 0, iteration).state(),
    B: Rng.derive(seed, STREAM_POOL, 1, iteration).state(),
  };
}

/** The state of a new run: initial weights drawn from `rng`, empty pools, fresh optimisers. */
export function initialModelState(opts: ModelOptions, rng: Rng, seed: number): ModelState {
  return {
    nets: initialWeights(opts, rng),
    pools: { A: { images: [] }, B: { images: [] } },
    poolRng: poolStreams(seed),
    dropoutCounter: 1,
    lr: opts.lr,
  };
}

/** A PartialModelState that has every part (one thread's, or both workers' merged). */
export function completeState(s: PartialModelState): ModelState {
  const { G_A, G_B, D_A, D_B } = s.nets;
  if (!G_A || !G_B || !D_A || !D_B) throw new Error('model state lacks the weights of a network');
  if (!s.pools.A || !s.pools.B || !s.poolRng.A || !s.poolRng.B) throw new Error('model state lacks an image pool');
  return {
    nets: { G_A, G_B, D_A, D_B },
    adam: s.adam,
    pools: { A: s.pools.A, B: s.pools.B },
    poolRng: { A: s.poolRng.A, B: s.poolRng.B },
    dropoutCounter: s.dropoutCounter,
    lr: s.lr,
  };
}
