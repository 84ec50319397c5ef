/**
 * The conventions of official pytorch-CycleGAN-and-pix2pix checkpoints, mapped onto the shared
 * architecture spec:
 *
 * - a run folder holds `<epoch>_net_G_A.pth`, `_G_B`, `_D_A`, `_D_B` (epoch `latest` or a number);
 *   a pretrained test model is a single `latest_net_G.pth`;
 * - keys may carry DataParallel's `module.` prefix;
 * - checkpoints from PyTorch < 0.4 hold `running_mean`/`running_var` for InstanceNorm layers, which
 *   the official `load_networks` deletes (`__patch_instance_norm_state_dict`), and so do we;
 * - PyTorch ≥ 0.4.1 adds `num_batches_tracked` to norm layers: dropped too (for BatchNorm it only
 *   drives momentum=None averaging, which these networks never use).
 *
 * Weights that do not fit the chosen options are reported tensor by tensor, with the options that
 * would fit, found by trying the architectures the tensor shapes allow.
 */
import * as path from 'node:path';
import type { DiscriminatorOptions, GeneratorOptions, Layer, NetworkSpec, NormKind } from '../arch/spec';
import { discriminatorSpec, generatorSpec, paramSpecs } from '../arch/spec';
import type { NamedTensor, StateDict } from '../arch/stateDict';

export type OfficialNet = 'G_A' | 'G_B' | 'D_A' | 'D_B';

/** `<dir>/<epoch>_net_<net>.pth`, as the official `save_networks` names them. */
export function officialCheckpointFile(dir: string, epoch: string, net: OfficialNet | 'G'): string {
  return path.join(dir, `${epoch}_net_${net}.pth`);
}

const MAX_LISTED = 4;

/** Drops DataParallel's `module.` prefix (all keys carry it, or none). */
function stripDataParallel(raw: ReadonlyMap<string, NamedTensor>): Map<string, NamedTensor> {
  const keys = [...raw.keys()];
  const dp = keys.length > 0 && keys.every((k) => k.startsWith('module.'));
  return new Map([...raw].map(([k, t]) => [dp ? k.slice('module.'.length) : k, t]));
}

function instanceNormNames(layers: Layer[], out = new Set<string>()): Set<string> {
  for (const l of layers) {
    if (l.op === 'instanceNorm') out.add(l.name);
    if (l.op === 'residual' || l.op === 'skipConcat') instanceNormNames(l.body, out);
  }
  return out;
}

export interface Adapted {
  weights: StateDict;
  /** One entry per tensor that does not fit: missing, wrong shape, or unexpected. */
  problems: string[];
}

/** The state dict `spec` needs from an official one, and everything that does not fit. */
export function adaptStateDict(spec: NetworkSpec, raw: ReadonlyMap<string, NamedTensor>): Adapted {
  const sd = stripDataParallel(raw);
  const norms = instanceNormNames(spec.layers);
  const ignored = (k: string): boolean => {
    const m = /^(.*)\.(running_mean|running_var|num_batches_tracked)$/.exec(k);
    // num_batches_tracked is a counter for BatchNorm's momentum=None mode, which these nets never use.
    return m !== null && (m[2] === 'num_batches_tracked' || norms.has(m[1]));
  };
  const weights: StateDict = new Map();
  const problems: string[] = [];
  const expected = paramSpecs(spec);
  for (const p of expected) {
    const t = sd.get(p.key);
    if (!t) problems.push(`'${p.key}' missing`);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
      problems.push(`'${p.key}' is [${t.shape}], expected [${p.shape}]`);
    else weights.set(p.key, { shape: t.shape, data: t.data });
  }
  const known = new Set(expected.map((p) => p.key));
  for (const k of sd.keys()) if (!known.has(k) && !ignored(k)) problems.push(`'${k}' unexpected`);
  return { weights, problems };
}

/** Official-style flags of a generator configuration, e.g. `--netG resnet_9blocks --ngf 64 --norm instance`. */
export function generatorFlags(o: GeneratorOptions): string {
  return (
    `--netG ${o.netG} --ngf ${o.ngf} --norm ${o.norm} --input_nc ${o.inputNc} --output_nc ${o.outputNc}` +
    (o.useDropout ? ' --no_dropout=false' : '')
  );
}

function problemSummary(problems: string[]): string {
  const more = problems.length - MAX_LISTED;
  return problems.slice(0, MAX_LISTED).join('; ') + (more > 0 ? `; … ${more} more` : '');
}

/**
 * Generator configurations whose state dict matches `raw` exactly, guessed from tensor shapes:
 * the first conv gives ngf and input_nc, the last one output_nc, the residual blocks' indices
 * their number; norm kind and dropout (which shifts ResNet indices) are tried in turn.
 */
export function inferGeneratorOptions(raw: ReadonlyMap<string, NamedTensor>): GeneratorOptions[] {
  const sd = stripDataParallel(raw);
  const candidates: GeneratorOptions[] = [];
  const base: Pick<GeneratorOptions, 'netG' | 'ngf' | 'inputNc' | 'outputNc'>[] = [];
  const first = sd.get('model.1.weight');
  if (first?.shape.length === 4 && first.shape[2] === 7) {
    const blocks = new Set<number>();
    let outputNc = 0;
    let lastIndex = -1;
    for (const [k, t] of sd) {
      const b = /^model\.(\d+)\.conv_block\./.exec(k);
      if (b) blocks.add(Number(b[1]));
      const c = /^model\.(\d+)\.weight$/.exec(k);
      if (c && t.shape.length === 4 && t.shape[2] === 7 && Number(c[1]) > lastIndex) {
        lastIndex = Number(c[1]);
        outputNc = t.shape[0];
      }
    }
    base.push({ netG: `resnet_${blocks.size}blocks`, ngf: first.shape[0], inputNc: first.shape[1], outputNc });
  }
  const down = sd.get('model.model.0.weight');
  const up = sd.get('model.model.3.weight');
  if (down?.shape.length === 4 && up?.shape.length === 4) {
    for (const netG of ['unet_128', 'unet_256'])
      base.push({ netG, ngf: down.shape[0], inputNc: down.shape[1], outputNc: up.shape[1] });
  }
  for (const b of base) {
    for (const norm of ['instance', 'batch', 'none'] as NormKind[]) {
      for (const useDropout of [false, true]) {
        const o: GeneratorOptions = { ...b, norm, useDropout };
        let spec: NetworkSpec;
        try {
          spec = generatorSpec(o);
        } catch {
          continue;
        }
        if (adaptStateDict(spec, sd).problems.length === 0) candidates.push(o);
      }
    }
  }
  // Dropout leaves no trace in a U-Net's keys and is inactive at inference: keep the official default.
  return candidates.filter(
    (c) => !c.useDropout || !candidates.some((d) => d !== c && d.netG === c.netG && d.norm === c.norm),
  );
}

/**
 * The generator `o` describes, with its weights from the official state dict `raw`. Throws a
 * one-line error naming the mismatching tensors and the options that would fit.
 */
export function fitGenerator(
  raw: ReadonlyMap<string, NamedTensor>,
  o: GeneratorOptions,
  what: string,
): { spec: NetworkSpec; weights: StateDict } {
  const spec = generatorSpec(o);
  const { weights, problems } = adaptStateDict(spec, raw);
  if (problems.length === 0) return { spec, weights };
  const fits = inferGeneratorOptions(raw);
  const hint =
    fits.length === 0
      ? 'no supported generator architecture (resnet_<n>blocks, unet_128, unet_256) fits these weights'
      : `the weights fit ${fits.map(generatorFlags).join(' or ')}`;
  throw new Error(`${what} does not fit ${generatorFlags(o)}: ${problemSummary(problems)}; ${hint}`);
}

/** The discriminator `o` describes, with its weights from the official state dict `raw`. */
export function fitDiscriminator(
  raw: ReadonlyMap<string, NamedTensor>,
  o: DiscriminatorOptions,
  what: string,
): { spec: NetworkSpec; weights: StateDict } {
  const spec = discriminatorSpec(o);
  const { weights, problems } = adaptStateDict(spec, raw);
  if (problems.length === 0) return { spec, weights };
  const first = stripDataParallel(raw).get(o.netD === 'pixel' ? 'net.0.weight' : 'model.0.weight');
  const hint =
    first?.shape.length === 4 ? `; its first conv suggests --ndf ${first.shape[0]} --input_nc ${first.shape[1]}` : '';
  throw new Error(
    `${what} does not fit --netD ${o.netD} --ndf ${o.ndf} --n_layers_D ${o.nLayersD} --norm ${o.norm}: ` +
      `${problemSummary(problems)}${hint}`,
  );
}
