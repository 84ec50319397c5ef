/**
 * The engine-neutral vocabulary of CycleGAN training, as the official `cycle_gan_model.py` names
 * it: the four networks, the two sides of the loss, dropout seeds, the options the model reads,
 * the networks' architectures and initial weights. Both engines (train/tfjs, train/onnx), the
 * two-worker split (train/parallel) and checkpoints build on these; nothing here computes.
 *
 * Naming follows the official code: G_A: A→B, G_B: B→A, D_A judges domain B, D_B judges domain A.
 * loss_G splits exactly into one part per real domain ("side"), each needing one discriminator:
 *   side A: GAN(D_A(G_A(real_A))) + λ_A·|G_B(G_A(real_A)) − real_A| + λ_A·λ_idt·|G_B(real_A) − real_A|
 *   side B: GAN(D_B(G_B(real_B))) + λ_B·|G_A(G_B(real_B)) − real_B| + λ_B·λ_idt·|G_A(real_B) − real_B|
 * and the D step splits into loss_D_A (side A) and loss_D_B (side B).
 */
import type { GeneratorOptions, DiscriminatorOptions, NormKind, InitKind, NetworkSpec } from '../../core/arch/spec';
import { generatorSpec, discriminatorSpec } from '../../core/arch/spec';
import type { StateDict } from '../../core/arch/stateDict';
import { initStateDict, type NormalSource } from './init';
import type { AdamMoments } from './adamConfig';

/** The GAN objective: least squares (LSGAN) or binary cross-entropy with logits (vanilla). */
export type GanMode = 'lsgan' | 'vanilla';

export const NET_NAMES = ['G_A', 'G_B', 'D_A', 'D_B'] as const;
export type NetName = (typeof NET_NAMES)[number];

/** The subset of the training options the model itself reads (official names). */
export interface ModelOptions {
  netG: string;
  netD: 'basic' | 'n_layers' | 'pixel';
  n_layers_D: number;
  ngf: number;
  ndf: number;
  norm: NormKind;
  init_type: InitKind;
  init_gain: number;
  input_nc: number;
  output_nc: number;
  no_dropout: boolean;
  gan_mode: GanMode;
  lambda_A: number;
  lambda_B: number;
  lambda_identity: number;
  lr: number;
  beta1: number;
}

/** A pool of generated images (framework-neutral so its contents can be checkpointed). */
export interface FakeImagePool {
  /**
   * Takes a batch [N,H,W,C] and returns the batch the discriminator should see, whose size may
   * differ from the batch's (an earlier image of another size, with un-cropped preprocessing).
   */
  query(
    batch: Float32Array,
    shape: [number, number, number, number],
  ): { data: Float32Array; shape: [number, number, number, number] };
  /** True when `query` returns its batch unchanged (pool_size 0): the fakes then need no read back. */
  readonly passThrough?: boolean;
}

/** G_A maps A → B; G_B (BtoA) is built with input and output channels swapped. */
export function generatorOptions(
  o: Pick<ModelOptions, 'netG' | 'input_nc' | 'output_nc' | 'ngf' | 'norm' | 'no_dropout'>,
  direction: 'AtoB' | 'BtoA',
): GeneratorOptions {
  const [inputNc, outputNc] = direction === 'AtoB' ? [o.input_nc, o.output_nc] : [o.output_nc, o.input_nc];
  return { netG: o.netG, inputNc, outputNc, ngf: o.ngf, norm: o.norm, useDropout: !o.no_dropout };
}

export function discriminatorOptions(o: ModelOptions, domain: 'A' | 'B'): DiscriminatorOptions {
  return {
    netD: o.netD,
    inputNc: domain === 'A' ? o.input_nc : o.output_nc,
    ndf: o.ndf,
    nLayersD: o.n_layers_D,
    norm: o.norm,
  };
}

export type Side = 'A' | 'B';
export const SIDES: readonly Side[] = ['A', 'B'];
export type PoolName = 'A' | 'B';

/**
 * Dropout-seed offsets, one per generator call of an iteration (added to the model's dropout
 * counter; a call's dropout layers take the next seeds in turn). Side A: G_A(real_A) `fake`,
 * G_B(fake_B) `rec`, G_B(real_A) `idt`; side B alike with the generators swapped.
 */
export const DROPOUT_SEEDS = {
  A: { fake: 0, rec: 1, idt: 5 },
  B: { fake: 2, rec: 3, idt: 4 },
} as const;

/** How far the dropout counter moves per iteration: past every call's seeds, on either engine. */
export const DROPOUT_SEEDS_PER_ITERATION = 8;

/** What each side owns and computes; `seeds`: its generator calls' dropout-seed offsets. */
export const SIDE = {
  A: {
    G: 'G_A', // real → fake
    inverse: 'G_B', // fake → reconstruction; identity on real
    D: 'D_A', // judges G's outputs
    lambda: 'lambda_A',
    other: 'B', // the domain D judges: its real images are D's "real"
    pool: 'B', // the pool holding this side's fakes (named by their domain)
    images: { real: 'real_A', fake: 'fake_B', rec: 'rec_A' },
    losses: { gan: 'G_A', cycle: 'cycle_A', idt: 'idt_B', d: 'D_A' },
    seeds: DROPOUT_SEEDS.A,
  },
  B: {
    G: 'G_B',
    inverse: 'G_A',
    D: 'D_B',
    lambda: 'lambda_B',
    other: 'A',
    pool: 'A',
    images: { real: 'real_B', fake: 'fake_A', rec: 'rec_B' },
    losses: { gan: 'G_B', cycle: 'cycle_B', idt: 'idt_A', d: 'D_B' },
    seeds: DROPOUT_SEEDS.B,
  },
} as const;

/** The pool a side's generated images go through (pool B holds side A's fake_B). */
export function sidePool(side: Side): PoolName {
  return SIDE[side].pool;
}

/** Initial weights of the four networks, drawn in a fixed order (G_A, G_B, D_A, D_B) from `rng`. */
export function initialWeights(opts: ModelOptions, rng: NormalSource): Record<NetName, StateDict> {
  const specs = networkSpecs(opts);
  const out = {} as Record<NetName, StateDict>;
  for (const n of NET_NAMES) out[n] = initStateDict(specs[n], opts.init_type, opts.init_gain, rng);
  return out;
}

/** The identity loss compares G_A(B) with B, so it needs as many channels in as out. */
export function checkIdentityLoss(opts: ModelOptions): void {
  if (opts.lambda_identity > 0 && opts.input_nc !== opts.output_nc)
    throw new Error('--lambda_identity > 0 needs input_nc == output_nc (the identity loss compares G_A(B) with B)');
}

/** The four networks' architectures for these options (both engines build from these). */
export function networkSpecs(opts: ModelOptions): Record<NetName, NetworkSpec> {
  return {
    G_A: generatorSpec(generatorOptions(opts, 'AtoB')),
    G_B: generatorSpec(generatorOptions(opts, 'BtoA')),
    // D_A judges G_A's outputs (domain B); D_B judges domain A.
    D_A: discriminatorSpec(discriminatorOptions(opts, 'B')),
    D_B: discriminatorSpec(discriminatorOptions(opts, 'A')),
  };
}

/** Weights and optimiser state of what a model holds, framework-neutral (state_dict layout). */
export interface NetsState {
  nets: Partial<Record<NetName, StateDict>>;
  adam: Record<'G' | 'D', AdamMoments>;
  dropoutCounter: number;
}
