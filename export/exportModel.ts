/**
 * Checkpoint → model folder: `AtoB.onnx` (G_A), `BtoA.onnx` (G_B), optional `*.fp16.onnx` copies
 * and `model.json`, verified against a reference forward pass before anything is written.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { NetworkSpec } from '../core/arch/spec';
import { forwardMacs } from '../core/arch/flops';
import { generatorSpec, sizeMultiple } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  parseManifest,
  type Direction,
  type ModelManifest,
} from '../core/modelManifest';
import pkg from '../package.json';
import {
  checkpointOptions,
  checkpointPath,
  listEpochs,
  loadCheckpoint,
  parseEpoch,
  type CheckpointOptions,
} from '../train/checkpoint';
import { generatorOptions } from '../train/model/cycleGan';
import { buildGeneratorOnnx, checkWeights, DEFAULT_OPSET } from './onnxBuilder';
import { tilingGraphs, verifyTilingGraphs } from './tilingGraphs';
import type { ReferenceFn } from './referenceForward';
import { referenceGenerator } from './referenceForward';
import { writeDurable } from '../core/io/atomicWrite';
import { writeFolderAtomically } from './atomicFolder';
import { checkWrittenModel, shareWeights, weightsFileName } from './sharedWeights';
import {
  FP16_TOLERANCE,
  FP32_TOLERANCE,
  referenceOutputs,
  verificationCases,
  verificationSizes,
  VerificationError,
  verifyOnnx,
  type VerifyCase,
  type VerifyResult,
} from './verify';

/** Makes the reference a graph is checked against; the default is the plain TypeScript forward pass. */
export type ReferenceFactory = (spec: NetworkSpec, weights: StateDict) => ReferenceFn | Promise<ReferenceFn>;

export interface ExportOptions {
  /** Model folder to write (replaced if it already holds a model). */
  out: string;
  opset?: number;
  fp16?: boolean;
  verify?: boolean;
  reference?: ReferenceFactory;
  /** Recorded in model.json's `verification.reference`. */
  referenceName?: string;
  /** Name recorded in model.json; defaults to the checkpoint's run folder name. */
  name?: string;
  /**
   * Side of the square verification input (a half-height one is checked too); default the
   * training crop size. Smaller is faster and checks the same weights and graph.
   */
  verifySize?: number;
  /** Recorded in model.json's `description`. */
  description?: string;
  log?: (line: string) => void;
}

export interface ExportResult {
  out: string;
  manifest: ModelManifest;
  verification: Partial<Record<Direction, { fp32: VerifyResult; fp16?: VerifyResult }>>;
}

/**
 * What a model folder is made from: the generators' weights in state_dict layout and the options
 * that describe them. A cyclegan-ts checkpoint has both; an imported PyTorch file may have one.
 */
export interface GeneratorSource {
  /** Where the weights came from, for messages. */
  file: string;
  options: CheckpointOptions;
  epoch: number | string;
  G_A?: StateDict;
  G_B?: StateDict;
}

const NETS: [Direction, 'G_A' | 'G_B'][] = [
  ['AtoB', 'G_A'],
  ['BtoA', 'G_B'],
];

const ARCHITECTURE_KEYS = ['netG', 'ngf', 'norm', 'input_nc', 'output_nc', 'no_dropout', 'load_size', 'crop_size'];

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function channels(n: number, what: string): 1 | 3 {
  if (n !== 1 && n !== 3) throw new Error(`${what} is ${n}; exported models take 1 (grey) or 3 (RGB) channels`);
  return n;
}

interface BuiltModel {
  files: Map<string, Uint8Array>;
  manifest: ModelManifest;
  verification: ExportResult['verification'];
}

/** Builds and verifies everything for one set of generators in memory; writes nothing. */
async function buildModel(ckpt: GeneratorSource, name: string, opts: ExportOptions): Promise<BuiltModel> {
  const log = opts.log ?? (() => {});
  const o = ckpt.options;
  const inputNc = channels(o.input_nc, 'input_nc');
  const outputNc = channels(o.output_nc, 'output_nc');
  const files = new Map<string, Uint8Array>();
  const directions: ModelManifest['directions'] = {};
  const verification: ExportResult['verification'] = {};
  let multiple = 1;
  const label = `${name} epoch ${ckpt.epoch}`;

  for (const [direction, net] of NETS) {
    const weights = ckpt[net];
    if (!weights) continue;
    const spec = generatorSpec(generatorOptions(o, direction));
    checkWeights(spec, weights, `${ckpt.file}: ${net}`);
    multiple = Math.max(multiple, sizeMultiple(spec));
    const graphName = `${name} ${direction}`;
    const common = { opset: opts.opset ?? DEFAULT_OPSET, name: graphName, producerVersion: pkg.version };
    const fp32 = buildGeneratorOnnx(spec, weights, {
      ...common,
      docString: `CycleGAN generator ${net} (${o.netG}, ngf ${o.ngf}, ${o.norm} norm), epoch ${ckpt.epoch}`,
    });
    const fp16 = opts.fp16
      ? buildGeneratorOnnx(spec, weights, {
          ...common,
          fp16: true,
          docString: `CycleGAN generator ${net}, float16 weights and arithmetic; float32 input and output`,
        })
      : undefined;
    const file = `${direction}.onnx`;
    files.set(file, fp32);
    directions[direction] = {
      file,
      sha256: sha256(fp32),
      inputNc: channels(spec.inputNc, `${net} input channels`),
      outputNc: channels(spec.outputNc, `${net} output channels`),
    };
    const tiling = tilingGraphs(spec, weights, direction, common);
    for (const [f, data] of tiling.files) files.set(f, data);
    directions[direction]!.tiling = tiling.entry;
    if (fp16) {
      const fp16File = `${direction}.fp16.onnx`;
      files.set(fp16File, fp16);
      directions[direction] = { ...directions[direction]!, fp16File, fp16Sha256: sha256(fp16) };
    }
    log(`${label} ${direction}: built ${(fp32.length / 1e6).toFixed(1)} MB${fp16 ? ' (+ fp16 copy)' : ''}`);

    if (opts.verify ?? true) {
      const cases = verificationCases(spec.inputNc, opts.verifySize ?? o.crop_size, sizeMultiple(spec));
      const reference = await (opts.reference ?? referenceGenerator)(spec, weights);
      const gmacs = cases.reduce((a, c) => a + c.shape[0] * forwardMacs(spec, c.shape[2], c.shape[3]), 0) / 1e9;
      log(`${label} ${direction}: verifying on ${cases.map((c) => c.label).join(', ')} (${gmacs.toPrecision(2)} GMAC)`);
      const expected = await referenceOutputs(reference, cases);
      const what = `${label} ${file}`;
      const r32 = await verifyOnnx(fp32, cases, expected, FP32_TOLERANCE, what);
      const r16 = fp16 ? await verifyFp16(fp16, cases, expected, `${label} ${direction}.fp16.onnx`) : undefined;
      verification[direction] = { fp32: r32, ...(r16 ? { fp16: r16 } : {}) };
      if (tiling.entry.norm === 'instance') {
        const d = await verifyTilingGraphs(fp32, tiling.files, tiling.entry, cases, `${label} ${direction}`);
        log(
          `${label} ${direction}: tiling graphs with the image's own statistics: max |apply - plain| ${d.toExponential(2)}`,
        );
      }
      log(
        `${label} ${direction}: max |onnx - reference| ${r32.maxAbsDiff.toExponential(2)} (≤ ${FP32_TOLERANCE})` +
          (r16 ? `, fp16 ${r16.maxAbsDiff.toExponential(2)} (≤ ${FP16_TOLERANCE})` : ''),
      );
    }
    // The verified graphs, with one shared copy of their weights (checked again once written: checkWrittenModel).
    const weightsFile = weightsFileName(direction);
    const shared = shareWeights(new Map([[file, fp32], ...tiling.files]), weightsFile);
    for (const [f, data] of shared.graphs) files.set(f, data);
    files.set(weightsFile, shared.data);
    const entry = directions[direction]!;
    entry.sha256 = sha256(shared.graphs.get(file)!);
    entry.weights = { file: weightsFile, sha256: sha256(shared.data) };
    for (const g of [entry.tiling?.statistics, entry.tiling?.apply])
      if (g) g.sha256 = sha256(shared.graphs.get(g.file)!);
  }

  const architecture: Record<string, unknown> = {};
  for (const k of ARCHITECTURE_KEYS) if (o[k] !== undefined) architecture[k] = o[k];
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    name,
    ...(opts.description ? { description: opts.description } : {}),
    directions,
    inputNc,
    outputNc,
    preferredSize: o.crop_size,
    sizeMultiple: multiple,
    // The official pipeline normalises with Normalize((0.5,)*C, (0.5,)*C): [0, 1] → [-1, 1].
    normalization: {
      mean: Array<number>(Math.max(inputNc, outputNc)).fill(0.5),
      std: Array<number>(Math.max(inputNc, outputNc)).fill(0.5),
    },
    io: { input: 'input', output: 'output', layout: 'NCHW' },
    architecture,
    epoch: ckpt.epoch,
    createdAt: new Date().toISOString(),
    producer: { name: 'cyclegan-ts', version: pkg.version },
  };
  if (opts.verify ?? true) {
    manifest.verification = {
      device: 'onnxruntime-node cpu',
      sizes: verificationSizes(opts.verifySize ?? o.crop_size, multiple).map(([h, w]) => `${h}x${w}`),
      reference: opts.referenceName ?? (opts.reference ? 'custom' : 'cyclegan-ts TypeScript forward pass (float64)'),
      fp32Tolerance: FP32_TOLERANCE,
      ...(opts.fp16
        ? {
            fp16Tolerance: FP16_TOLERANCE,
            // What the CPU check can and cannot see; GPU providers run float16 arithmetic.
            fp16Note: 'onnxruntime CPU computes float16 graphs in float32: the check covers float16 weights and input',
          }
        : {}),
      maxAbsDiff: Object.fromEntries(
        Object.entries(verification).map(([d, r]) => [d, { fp32: r.fp32.maxAbsDiff, fp16: r.fp16?.maxAbsDiff }]),
      ),
    };
  }
  // Never write a model.json the server would reject.
  parseManifest(manifest, `${name}/${MANIFEST_FILE}`);
  return { files, manifest, verification };
}

async function verifyFp16(
  model: Uint8Array,
  cases: VerifyCase[],
  expected: Float32Array[],
  what: string,
): Promise<VerifyResult> {
  try {
    return await verifyOnnx(model, cases, expected, FP16_TOLERANCE, what);
  } catch (e) {
    if (e instanceof VerificationError)
      throw new VerificationError(`${e.message}; half precision is too coarse for this model, export without --fp16`);
    throw e;
  }
}

async function writeModelFiles(dir: string, built: BuiltModel): Promise<void> {
  for (const [file, data] of built.files) await writeDurable(path.join(dir, file), data);
  await writeDurable(path.join(dir, MANIFEST_FILE), JSON.stringify(built.manifest, null, 2) + '\n');
}

/**
 * The one writer of model folders: builds and verifies the graphs of the generators `load`
 * returns and writes them, with model.json, atomically into `opts.out`. Loading inside the folder
 * writer means an unusable destination fails before the slow part.
 */
export async function writeModelFolder(
  load: () => Promise<GeneratorSource>,
  name: string,
  opts: ExportOptions,
): Promise<ExportResult> {
  let result: ExportResult | undefined;
  await writeFolderAtomically(opts.out, async (tmp) => {
    const built = await buildModel(await load(), name, opts);
    await writeModelFiles(tmp, built);
    await checkWrittenModel(tmp, built.manifest);
    result = { out: opts.out, manifest: built.manifest, verification: built.verification };
  });
  return result!;
}

/** The generators of the training checkpoint `file` and the options that describe them. */
async function checkpointGenerators(file: string): Promise<GeneratorSource> {
  const ck = await loadCheckpoint(file);
  // A training checkpoint has both generators: a missing one is an empty state_dict, whose check names what is missing.
  const { G_A = new Map(), G_B = new Map() } = ck.nets;
  return { file, options: checkpointOptions(ck), epoch: ck.meta.epoch, G_A, G_B };
}

/** Exports one checkpoint file into the model folder `opts.out`. */
export async function exportCheckpoint(file: string, opts: ExportOptions): Promise<ExportResult> {
  return writeModelFolder(() => checkpointGenerators(file), opts.name ?? path.basename(path.dirname(file)), opts);
}

/** `--epoch latest|N`: one checkpoint of run `name`. */
export async function exportRun(
  checkpointsDir: string,
  name: string,
  epoch: string,
  opts: ExportOptions,
): Promise<ExportResult> {
  return exportCheckpoint(checkpointPath(checkpointsDir, name, parseEpoch(epoch)), { name, ...opts });
}

/**
 * `--epoch all`: every numbered epoch of run `name` into `<out>/epoch_N/`. Epochs are written one
 * by one into the temp folder, which replaces `<out>` only once all of them have been verified,
 * so a bad epoch leaves the previous export intact.
 */
export async function exportAllEpochs(
  checkpointsDir: string,
  name: string,
  opts: ExportOptions,
): Promise<ExportResult[]> {
  const runDir = path.join(checkpointsDir, name);
  let epochs: number[];
  try {
    epochs = await listEpochs(runDir);
  } catch {
    throw new Error(`no checkpoint folder ${runDir}`);
  }
  if (epochs.length === 0) throw new Error(`no numbered epoch checkpoints (N.ckpt) in ${runDir}`);
  const results: ExportResult[] = [];
  await writeFolderAtomically(opts.out, async (tmp) => {
    for (const epoch of epochs) {
      const source = await checkpointGenerators(checkpointPath(checkpointsDir, name, epoch));
      const built = await buildModel(source, name, opts);
      const dir = path.join(tmp, `epoch_${epoch}`);
      await fs.mkdir(dir);
      await writeModelFiles(dir, built);
      await checkWrittenModel(dir, built.manifest);
      results.push({
        out: path.join(opts.out, `epoch_${epoch}`),
        manifest: built.manifest,
        verification: built.verification,
      });
    }
  });
  return results;
}
