/**
 * Tiny model folders for serving tests: `model.json` + one ONNX file per direction, written to a
 * temp directory. Each graph is a real CycleGAN ResNet generator (ngf 4, one residual block) built
 * by the exporter's ONNX builder from the shared architecture spec, with random weights from a
 * fixed seed: it runs in milliseconds, yet exercises reflection padding, strided and transposed
 * convolutions and instance norm, so batching and resizing mistakes show up in the output.
 */
import { addTilingGraphs } from '../../export/tilingGraphs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { generatorSpec, paramSpecs, sizeMultiple, type GeneratorOptions } from '../../core/arch/spec';
import type { StateDict } from '../../core/arch/stateDict';
import { numel } from '../../core/arch/stateDict';
import { MANIFEST_FILE, MANIFEST_FORMAT, type Direction, type ModelManifest } from '../../core/modelManifest';
import { buildGeneratorOnnx } from '../../export/onnxBuilder';
import { Rng } from '../../core/rng';

export interface TinyModelOptions {
  name?: string;
  inputNc?: 1 | 3;
  outputNc?: 1 | 3;
  preferredSize?: number;
  directions?: Direction[];
  seed?: number;
  /** Generator width and depth (default ngf 4, 1 residual block). */
  ngf?: number;
  nBlocks?: number;
  /** Also write the tiled-execution graphs and model.json entries (export/tilingGraphs.ts). */
  tiling?: boolean;
}

/** Deterministic uniform [-1, 1) numbers. */
function random(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next() * 2 - 1;
}

/** Random weights for every parameter of `opts`' generator (batch-norm variances kept positive). */
export function randomGeneratorWeights(opts: GeneratorOptions, seed: number): StateDict {
  const rnd = random(seed);
  const weights: StateDict = new Map();
  for (const p of paramSpecs(generatorSpec(opts))) {
    const data = new Float32Array(numel(p.shape));
    for (let i = 0; i < data.length; i++) {
      const u = rnd();
      data[i] = p.role === 'bnVar' ? 1 + 0.5 * Math.abs(u) : p.role === 'bnWeight' ? 1 + 0.1 * u : 0.3 * u;
    }
    weights.set(p.key, { shape: p.shape, data });
  }
  return weights;
}

/** ONNX bytes of a random-weight ResNet generator mapping inC → outC channels. */
export function randomGeneratorOnnx(inC: 1 | 3, outC: 1 | 3, seed: number, ngf = 4, nBlocks = 1): Uint8Array {
  const opts: GeneratorOptions = {
    netG: `resnet_${nBlocks}blocks`,
    inputNc: inC,
    outputNc: outC,
    ngf,
    norm: 'instance',
    useDropout: false,
  };
  return buildGeneratorOnnx(generatorSpec(opts), randomGeneratorWeights(opts, seed), { name: `tiny ${inC}->${outC}` });
}

/** Writes one model folder `<parent>/<name>` and returns its manifest. */
export async function writeTinyModel(parent: string, opts: TinyModelOptions = {}): Promise<ModelManifest> {
  const name = opts.name ?? 'tiny';
  const inputNc = opts.inputNc ?? 3;
  const outputNc = opts.outputNc ?? inputNc;
  const directions = opts.directions ?? ['AtoB', 'BtoA'];
  const seed = opts.seed ?? 1234;
  const ngf = opts.ngf ?? 4;
  const nBlocks = opts.nBlocks ?? 1;
  const dir = path.join(parent, name);
  await fs.mkdir(dir, { recursive: true });
  const entries: ModelManifest['directions'] = {};
  for (const [i, d] of directions.entries()) {
    const file = `${d}.onnx`;
    const [fromC, toC] = d === 'AtoB' ? [inputNc, outputNc] : [outputNc, inputNc];
    await fs.writeFile(path.join(dir, file), randomGeneratorOnnx(fromC, toC, seed + i, ngf, nBlocks));
    entries[d] = { file };
  }
  const spec = generatorSpec({
    netG: `resnet_${nBlocks}blocks`,
    inputNc,
    outputNc,
    ngf,
    norm: 'instance',
    useDropout: false,
  });
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    name,
    description: 'Tiny random-weight ResNet generator for tests',
    domains: { A: 'noise', B: 'more noise' },
    directions: entries,
    inputNc,
    outputNc,
    preferredSize: opts.preferredSize ?? 32,
    sizeMultiple: sizeMultiple(spec),
    normalization: { mean: Array(inputNc).fill(0.5), std: Array(inputNc).fill(0.5) },
    io: { input: 'input', output: 'output', layout: 'NCHW' },
    architecture: { netG: `resnet_${nBlocks}blocks`, ngf, norm: 'instance' },
  };
  await fs.writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  return opts.tiling ? addTilingGraphs(dir) : manifest;
}

export interface TinyRepo {
  dir: string;
  cleanup(): Promise<void>;
}

/** A fresh models directory holding the given tiny models (one default RGB model if none given). */
export async function createTinyModelRepo(models: TinyModelOptions[] = [{}]): Promise<TinyRepo> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-serve-'));
  for (const m of models) await writeTinyModel(dir, m);
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Deterministic noise image encoded as `format` (a stand-in photo for serving tests). */
export async function noiseImage(
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp' = 'png',
  seed = 7,
): Promise<Buffer> {
  const rnd = random(seed);
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor((rnd() + 1) * 127.99);
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : format === 'jpeg' ? img.jpeg().toBuffer() : img.webp().toBuffer();
}
