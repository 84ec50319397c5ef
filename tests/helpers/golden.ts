/**
 * Reader for the PyTorch golden fixtures in tests/fixtures/golden (written by tools/make_golden.py).
 *
 * Each case is `<case>.json` + `<case>.bin`. The JSON holds `{format, case, description, config,
 * bin, tensors: {name: {shape, offset}}}`; the .bin is little-endian float32 tensors in PyTorch
 * layout (NCHW activations, conv [out,in,k,k], transposed conv [in,out,k,k]) at those byte offsets.
 * Tensor names: `input`, `R`, `output`, `dInput` (loss = sum(output * R)), `state/<key>`,
 * `grad/<key>`, `stateAfter/<key>` (batch-norm buffers after the training-mode forward); the
 * cycle case prefixes them with `G_A/`, `G_B/`, `D_A/`, `D_B/` and adds `adam/<key>` (after one
 * Adam step), the images and the `loss_*` scalars (shape []).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiscriminatorOptions, GeneratorOptions } from '../../core/arch/spec';
import { numel, type NamedTensor, type StateDict } from '../../core/arch/stateDict';
import type { ModelOptions } from '../../train/model/cycleGan';

export const GOLDEN_DIR = join(__dirname, '..', 'fixtures', 'golden');
const FORMAT = 'cyclegan-ts-golden/1';

export type GoldenKind = 'generator' | 'discriminator' | 'discriminatorShape' | 'cycleGan';

export interface GoldenConfig {
  kind: GoldenKind;
  /** Present for `generator` and `cycleGan` cases; directly usable with generatorSpec. */
  generator?: GeneratorOptions;
  /** Present for `discriminator`, `discriminatorShape` and `cycleGan` cases. */
  discriminator?: DiscriminatorOptions;
  /** Batch norm used batch statistics (training mode) and updated its running stats. */
  training?: boolean;
  /** The scalar whose gradients are stored, e.g. `sum(output * R)`. */
  loss?: string;
  nBlocks?: number;
  nLayers?: number | null;
  /** `discriminatorShape`: NCHW shapes of the (not stored) input and output. */
  inputShape?: number[];
  outputShape?: number[];
  /** `cycleGan` hyper-parameters. */
  lambdaA?: number;
  lambdaB?: number;
  lambdaIdentity?: number;
  ganMode?: 'lsgan';
  poolSize?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  batchSize?: number;
  [extra: string]: unknown;
}

export interface GoldenCase {
  name: string;
  description: string;
  config: GoldenConfig;
  /** Tensor names in file order (state_dict order within each group). */
  names(): string[];
  has(name: string): boolean;
  tensor(name: string): NamedTensor;
  /** The value of a shape-[] (or single-element) tensor, e.g. a loss. */
  scalar(name: string): number;
  /** Tensors whose names start with `prefix`, keyed by the rest of the name: `group('G_A/state/')`. */
  group(prefix: string): StateDict;
}

interface RawEntry {
  shape: number[];
  offset: number;
}

interface RawCase {
  format: string;
  case: string;
  description: string;
  config: GoldenConfig;
  bin: string;
  tensors: Record<string, RawEntry>;
}

export function listGoldenCases(): string[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

const cache = new Map<string, GoldenCase>();

/** Loads (and caches) one case (from `dir`, for the same format elsewhere, e.g. tests/fixtures/pth); throws a one-line error naming the case if it is missing or malformed. */
export function loadGolden(name: string, dir = GOLDEN_DIR): GoldenCase {
  const hit = cache.get(join(dir, name));
  if (hit) return hit;
  const read = <R>(file: string, parse: (buf: Buffer) => R): R => {
    const path = join(dir, file);
    try {
      return parse(readFileSync(path));
    } catch (e) {
      throw new Error(`golden case '${name}': cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const raw = read(`${name}.json`, (buf) => JSON.parse(buf.toString('utf8')) as RawCase);
  if (raw.format !== FORMAT) throw new Error(`golden case '${name}': format '${raw.format}', expected '${FORMAT}'`);
  const bin = read(raw.bin, (buf) => buf);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new Error('golden fixtures need a little-endian host');

  const tensors = new Map<string, NamedTensor>();
  for (const [tname, e] of Object.entries(raw.tensors)) {
    const bytes = numel(e.shape) * 4;
    if (e.offset % 4 !== 0 || e.offset + bytes > bin.length)
      throw new Error(`golden case '${name}': tensor '${tname}' [${e.shape}] at ${e.offset} exceeds ${raw.bin}`);
    // Copy out: the Buffer's own offset need not be 4-byte aligned.
    const data = new Float32Array(bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + bytes));
    tensors.set(tname, { shape: e.shape, data });
  }

  const golden: GoldenCase = {
    name,
    description: raw.description,
    config: raw.config,
    names: () => [...tensors.keys()],
    has: (t) => tensors.has(t),
    tensor: (t) => {
      const found = tensors.get(t);
      if (!found) throw new Error(`golden case '${name}' has no tensor '${t}'`);
      return found;
    },
    scalar: (t) => {
      const { data } = golden.tensor(t);
      if (data.length !== 1) throw new Error(`golden case '${name}': tensor '${t}' is not a scalar`);
      return data[0];
    },
    group: (prefix) => {
      const out: StateDict = new Map();
      for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
      return out;
    },
  };
  cache.set(join(dir, name), golden);
  return golden;
}

/** The training options of the `cycleGan` fixture (official names), pool size 0 as it was made. */
export function cycleOptions(c: GoldenCase): ModelOptions & { pool_size: number } {
  const cfg = c.config;
  const g = cfg.generator!;
  const d = cfg.discriminator!;
  return {
    netG: g.netG,
    netD: d.netD,
    n_layers_D: d.nLayersD,
    ngf: g.ngf,
    ndf: d.ndf,
    norm: g.norm,
    init_type: 'normal',
    init_gain: 0.02,
    input_nc: g.inputNc,
    output_nc: g.outputNc,
    no_dropout: !g.useDropout,
    gan_mode: 'lsgan',
    lambda_A: cfg.lambdaA!,
    lambda_B: cfg.lambdaB!,
    lambda_identity: cfg.lambdaIdentity!,
    lr: cfg.lr!,
    beta1: cfg.beta1!,
    pool_size: 0,
  };
}
