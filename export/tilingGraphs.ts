/**
 * The graphs and model.json entry tiled execution needs (inference/tiling), for a freshly exported
 * direction or added to an existing model folder whose plain graph still holds the weights.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createSession } from '../core/onnx/ortRuntime';
import { onnx } from 'onnx-proto';
import { generatorSpec, paramSpecs, type NetworkSpec } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import { tileGeometry } from '../core/arch/tileGeometry';
import { writeFileAtomic } from '../core/io/atomicWrite';
import {
  directionSchema,
  MANIFEST_FILE,
  parseManifest,
  readManifest,
  type Direction,
  type ModelManifest,
  type TilingManifest,
} from '../core/modelManifest';
import { ortRunGraph } from '../inference/tiling/adapters';
import { wholeImageStatistics } from '../inference/tiling/tiledTranslate';
import { buildGeneratorOnnx, checkWeights, type BuildOptions } from './onnxBuilder';
import { embedExternalWeights } from '../core/onnx/externalWeights';
import {
  compareOutputs,
  FP32_TOLERANCE,
  imageLikeSample,
  seededRandom,
  VerificationError,
  type VerifyCase,
} from './verify';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * The tiling entry of a direction, and for instance-norm generators its statistics and apply graphs
 * (`<direction>.tile-stats.onnx`, `<direction>.tile-apply.onnx`), built from the same spec and weights.
 */
export function tilingGraphs(
  spec: NetworkSpec,
  weights: StateDict,
  direction: Direction,
  common: BuildOptions,
): { entry: TilingManifest; files: Map<string, Uint8Array> } {
  const geo = tileGeometry(spec);
  const entry: TilingManifest = { halo: geo.halo, multiple: geo.multiple, norm: geo.norm, layers: geo.normLayers };
  const files = new Map<string, Uint8Array>();
  if (geo.norm === 'instance') {
    for (const variant of ['statistics', 'apply'] as const) {
      const file = `${direction}.tile-${variant === 'statistics' ? 'stats' : 'apply'}.onnx`;
      const data = buildGeneratorOnnx(spec, weights, {
        ...common,
        variant,
        docString: `tiling: the ${variant} graph (export/onnxBuilder.ts)`,
      });
      files.set(file, data);
      entry[variant] = { file, sha256: sha256(data) };
    }
  }
  return { entry, files };
}

/**
 * Checks that the apply graph, given the statistics the statistics graph measures on an image,
 * reproduces the plain graph on it (each sample of each case on its own). Returns the max difference.
 */
export async function verifyTilingGraphs(
  plain: Uint8Array,
  files: Map<string, Uint8Array>,
  entry: TilingManifest,
  cases: VerifyCase[],
  what: string,
): Promise<number> {
  const sessions = {
    plain: await createSession(plain),
    statistics: await createSession(files.get(entry.statistics!.file)!),
    apply: await createSession(files.get(entry.apply!.file)!),
  };
  const run = ortRunGraph(sessions);
  let max = 0;
  try {
    for (const c of cases) {
      const [n, ch, h, w] = c.shape;
      for (let i = 0; i < n; i++) {
        const x = { data: c.input.subarray(i * ch * h * w, (i + 1) * ch * h * w), dims: [1, ch, h, w] };
        const stats = await wholeImageStatistics(entry, x, run);
        const feeds: Parameters<typeof run>[1] = { input: { type: 'float32', ...x } };
        stats.forEach((s, k) => {
          feeds[`mean_${k}`] = { type: 'float32', data: s.mean, dims: [s.mean.length] };
          feeds[`var_${k}`] = { type: 'float32', data: s.variance, dims: [s.variance.length] };
        });
        const expected = (await run('plain', { input: feeds.input }, ['output'])).output.data;
        const actual = (await run('apply', feeds, ['output'])).output.data;
        max = Math.max(max, compareOutputs(actual, expected).max);
      }
    }
  } finally {
    await Promise.all(Object.values(sessions).map((s) => s.release()));
  }
  if (!(max <= FP32_TOLERANCE))
    throw new VerificationError(`${what}: tiling graphs differ from the plain graph by ${max} (> ${FP32_TOLERANCE})`);
  return max;
}

/** The state_dict a plain float32 graph was built from (its initializers keep the state_dict names). */
export function weightsFromOnnx(bytes: Uint8Array, spec: NetworkSpec, where: string): StateDict {
  const model = onnx.ModelProto.decode(bytes);
  const byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const weights: StateDict = new Map();
  for (const p of paramSpecs(spec)) {
    const t = byName.get(p.key);
    if (!t)
      throw new Error(`${where}: no initializer '${p.key}' (not a cyclegan-ts float32 graph of this architecture)`);
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT || !t.rawData)
      throw new Error(`${where}: initializer '${p.key}' is not raw float32`);
    const raw = t.rawData;
    const data = new Float32Array(raw.byteLength / 4);
    new Uint8Array(data.buffer).set(raw);
    weights.set(p.key, { shape: (t.dims ?? []).map(Number), data });
  }
  checkWeights(spec, weights, where);
  return weights;
}

/**
 * Adds the tiling graphs and entries to an existing model folder (exported before tiling existed):
 * weights are read back from each direction's plain graph, the new graphs verified against it, the
 * files written atomically and model.json last. `tools/add_tiling_graphs.ts` runs this.
 */
export async function addTilingGraphs(dir: string, log: (line: string) => void = () => {}): Promise<ModelManifest> {
  const where = path.join(dir, MANIFEST_FILE);
  const manifest = await readManifest(dir, where);
  const arch = manifest.architecture as
    { netG?: string; ngf?: number; norm?: string; no_dropout?: boolean } | undefined;
  if (!arch?.netG || !arch.ngf || !arch.norm)
    throw new Error(`${where}: no architecture (netG, ngf, norm) recorded; re-export the checkpoint instead`);
  const written = new Map<string, Uint8Array>();
  for (const direction of directionSchema.options) {
    const e = manifest.directions[direction];
    if (!e) continue;
    const [a, b] = direction === 'AtoB' ? [manifest.inputNc, manifest.outputNc] : [manifest.outputNc, manifest.inputNc];
    const spec = generatorSpec({
      netG: arch.netG,
      ngf: arch.ngf,
      norm: arch.norm as 'instance' | 'batch' | 'none',
      useDropout: arch.no_dropout === false,
      inputNc: e.inputNc ?? a,
      outputNc: e.outputNc ?? b,
    });
    const stored = await fs.readFile(path.join(dir, e.file));
    if (e.sha256 && sha256(stored) !== e.sha256) throw new Error(`${dir}: ${e.file} does not match its sha256`);
    const plain = await embedExternalWeights(dir, e.file);
    const proto = onnx.ModelProto.decode(plain);
    const opset = Number(proto.opsetImport?.find((o) => !o.domain)?.version ?? 17);
    const weights = weightsFromOnnx(plain, spec, `${dir}/${e.file}`);
    const tiling = tilingGraphs(spec, weights, direction, {
      opset,
      name: proto.graph?.name ?? `${manifest.name} ${direction}`,
      producerVersion: proto.producerVersion ?? '',
    });
    if (tiling.entry.norm === 'instance') {
      const side = Math.max(
        manifest.sizeMultiple,
        Math.round(manifest.preferredSize / manifest.sizeMultiple) * manifest.sizeMultiple,
      );
      const ch = spec.inputNc;
      const cases: VerifyCase[] = [
        {
          label: `${side}x${side}`,
          shape: [1, ch, side, side],
          input: imageLikeSample(ch, side, side, seededRandom(1)),
        },
      ];
      const d = await verifyTilingGraphs(plain, tiling.files, tiling.entry, cases, `${dir} ${direction}`);
      log(`${direction}: tiling graphs verified (max |apply - plain| ${d.toExponential(2)})`);
    }
    for (const [f, data] of tiling.files) written.set(f, data);
    e.tiling = tiling.entry;
  }
  for (const [f, data] of written) await writeFileAtomic(path.join(dir, f), data);
  const updated = parseManifest(manifest, where);
  await writeFileAtomic(where, JSON.stringify(manifest, null, 2) + '\n');
  log(`${where}: tiling entries written (${[...written.keys()].join(', ') || 'no extra graphs needed'})`);
  return updated;
}
