/**
 * Shared by the export tests: fake training checkpoints in the trainer's format, with seeded
 * random weights of the right shapes, and a way to run the export CLI as a user would.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { generatorSpec, paramSpecs, type GeneratorOptions, type NetworkSpec } from '../../core/arch/spec';
import { numel, type NamedTensor, type StateDict } from '../../core/arch/stateDict';
import { writeTensorFile } from '../../core/io/tensorFile';
import { CHECKPOINT_FORMAT, type CheckpointOptions } from '../../train/checkpoint';
import { generatorOptions } from '../../train/model/cycleGan';
import { seededRandom } from '../../export/verify';

export const ROOT = path.join(__dirname, '..', '..');

/** Small official-style options: a fast resnet generator at 32×32. */
export function tinyOptions(extra: Partial<CheckpointOptions> = {}): CheckpointOptions {
  return {
    name: 'tiny',
    netG: 'resnet_1blocks',
    netD: 'basic',
    ngf: 4,
    ndf: 4,
    n_layers_D: 3,
    norm: 'instance',
    input_nc: 3,
    output_nc: 3,
    no_dropout: true,
    crop_size: 32,
    load_size: 36,
    preprocess: 'resize_and_crop',
    init_type: 'normal',
    ...extra,
  };
}

/** Weights like init_type 'normal' (N(0, 0.02)), plus non-trivial batch-norm statistics. */
export function randomWeights(spec: NetworkSpec, seed: number): StateDict {
  const rand = seededRandom(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const sd: StateDict = new Map();
  for (const p of paramSpecs(spec)) {
    const value = (): number => {
      switch (p.role) {
        case 'bnWeight':
          return 1 + 0.02 * gauss();
        case 'bnVar':
          return 0.5 + rand();
        case 'bnMean':
        case 'bnBias':
        case 'bias':
          return 0.1 * gauss();
        default:
          return 0.02 * gauss();
      }
    };
    sd.set(p.key, { shape: [...p.shape], data: Float32Array.from({ length: numel(p.shape) }, value) });
  }
  return sd;
}

export function specFor(o: CheckpointOptions, net: 'G_A' | 'G_B'): NetworkSpec {
  return generatorSpec(generatorOptions(o, net === 'G_A' ? 'AtoB' : 'BtoA'));
}

/** Writes `<dir>/<name>/<epoch>.ckpt` the way the trainer does (discriminators omitted: export ignores them). */
export async function writeCheckpoint(
  checkpointsDir: string,
  name: string,
  epoch: number | 'latest',
  options: CheckpointOptions,
  seed = 1,
  atEpoch = typeof epoch === 'number' ? epoch : 3,
): Promise<string> {
  const tensors = new Map<string, NamedTensor>();
  for (const [i, net] of (['G_A', 'G_B'] as const).entries())
    for (const [k, v] of randomWeights(specFor(options, net), seed * 10 + i)) tensors.set(`net.${net}.${k}`, v);
  const file = path.join(checkpointsDir, name, `${epoch}.ckpt`);
  const { promises: fs } = await import('node:fs');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeTensorFile(
    file,
    { format: CHECKPOINT_FORMAT, options: { ...options, name }, epoch: atEpoch, iteration: 10 * atEpoch },
    tensors,
  );
  return file;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsx export/cli.ts ...args` from the repository root. */
export function runCli(args: string[], cwd = ROOT): CliRun {
  const r = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(ROOT, 'export', 'cli.ts'), ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Reader for tests/fixtures/onnx/<case>.json + .bin (written by tools/make_onnx_fixture.py). */
export const ONNX_FIXTURE_DIR = path.join(ROOT, 'tests', 'fixtures', 'onnx');

export interface OnnxFixture {
  description: string;
  generator: GeneratorOptions;
  tensor(name: string): NamedTensor;
  /** `state/` entries, keyed by state_dict key. */
  state: StateDict;
}

export function loadOnnxFixture(name: string): OnnxFixture {
  const meta = JSON.parse(readFileSync(path.join(ONNX_FIXTURE_DIR, `${name}.json`), 'utf8')) as {
    format: string;
    description: string;
    generator: GeneratorOptions;
    bin: string;
    tensors: Record<string, { shape: number[]; offset: number }>;
  };
  if (meta.format !== 'cyclegan-ts-onnx-fixture/1') throw new Error(`${name}: unknown format ${meta.format}`);
  const bin = readFileSync(path.join(ONNX_FIXTURE_DIR, meta.bin));
  const tensors = new Map<string, NamedTensor>();
  for (const [k, e] of Object.entries(meta.tensors)) {
    const bytes = numel(e.shape) * 4;
    const data = new Float32Array(bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + bytes));
    tensors.set(k, { shape: e.shape, data });
  }
  const state: StateDict = new Map();
  for (const [k, v] of tensors) if (k.startsWith('state/')) state.set(k.slice('state/'.length), v);
  return {
    description: meta.description,
    generator: meta.generator,
    state,
    tensor: (t) => {
      const found = tensors.get(t);
      if (!found) throw new Error(`${name}: no tensor '${t}'`);
      return found;
    },
  };
}
