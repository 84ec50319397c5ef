/**
 * The network architectures, described once as data.
 *
 * Both the tfjs builder (train) and the ONNX builder (export) walk these layer lists, so the two
 * cannot disagree about structure. Layer names are the PyTorch `state_dict` prefixes of the
 * official pytorch-CycleGAN-and-pix2pix `models/networks.py`, so weights map one-to-one onto
 * official checkpoints and onto the golden fixtures produced by `tools/make_golden.py`.
 */

export type NormKind = 'instance' | 'batch' | 'none';
export type InitKind = 'normal' | 'xavier' | 'kaiming' | 'orthogonal';

export interface GeneratorOptions {
  /** `resnet_9blocks`, `resnet_6blocks`, any `resnet_<n>blocks`, `unet_256`, `unet_128`. */
  netG: string;
  inputNc: number;
  outputNc: number;
  ngf: number;
  norm: NormKind;
  useDropout: boolean;
}

export interface DiscriminatorOptions {
  /** `basic` (70×70 PatchGAN = n_layers with 3 layers), `n_layers`, `pixel`. */
  netD: 'basic' | 'n_layers' | 'pixel';
  inputNc: number;
  ndf: number;
  nLayersD: number;
  norm: NormKind;
}

/** Layers operate on NCHW in PyTorch/ONNX and NHWC in tfjs; channel counts are layout-free. */
export type Layer =
  /** Convolution with symmetric zero padding `pad` (PyTorch `Conv2d(padding=pad)`). */
  | { op: 'conv'; name: string; inC: number; outC: number; kernel: number; stride: number; pad: number; bias: boolean }
  /** PyTorch `ConvTranspose2d(stride, padding, output_padding)`. */
  | {
      op: 'convTranspose';
      name: string;
      inC: number;
      outC: number;
      kernel: number;
      stride: number;
      pad: number;
      outputPad: number;
      bias: boolean;
    }
  | { op: 'reflectPad'; pad: number }
  /**
   * InstanceNorm2d(affine=False, track_running_stats=False): per sample and channel, biased variance.
   * No parameters; `name` is its state_dict prefix, where pre-0.4 checkpoints kept unused running stats.
   */
  | { op: 'instanceNorm'; name: string; channels: number; eps: number }
  /** BatchNorm2d(affine=True, track_running_stats=True). */
  | { op: 'batchNorm'; name: string; channels: number; eps: number; momentum: number }
  | { op: 'relu' }
  | { op: 'leakyRelu'; alpha: number }
  | { op: 'tanh' }
  | { op: 'dropout'; rate: number }
  /** x + body(x) (ResnetBlock). */
  | { op: 'residual'; body: Layer[] }
  /** concat([x, body(x)], channels) (UnetSkipConnectionBlock, not outermost). */
  | { op: 'skipConcat'; body: Layer[] };

export type ParamRole = 'convWeight' | 'convTransposeWeight' | 'bias' | 'bnWeight' | 'bnBias' | 'bnMean' | 'bnVar';

export interface ParamSpec {
  /** PyTorch state_dict key, e.g. `model.1.weight`. */
  key: string;
  role: ParamRole;
  /** Shape in PyTorch layout: conv [out, in, k, k]; transposed conv [in, out, k, k]; vectors [C]. */
  shape: number[];
  /** Running statistics are state, not trained parameters. */
  trainable: boolean;
}

export interface NetworkSpec {
  kind: 'generator' | 'discriminator';
  inputNc: number;
  outputNc: number;
  layers: Layer[];
}

const EPS = 1e-5;

/** The official rule: convs carry a bias only when followed by instance norm (which has no affine shift). */
function useBias(norm: NormKind): boolean {
  return norm === 'instance';
}

/** The norm layer for `channels`, or null for `none` (which still occupies a Sequential index). */
function normLayer(norm: NormKind, name: string, channels: number): Layer | null {
  if (norm === 'instance') return { op: 'instanceNorm', name, channels, eps: EPS };
  if (norm === 'batch') return { op: 'batchNorm', name, channels, eps: EPS, momentum: 0.1 };
  return null;
}

/** Appends layers while keeping PyTorch Sequential indices (null entries occupy an index but emit nothing). */
class Seq {
  readonly layers: Layer[] = [];
  private index = 0;
  constructor(private readonly prefix: string) {}
  /** Name the next layer will get. */
  nextName(): string {
    return `${this.prefix}${this.index}`;
  }
  push(layer: Layer | null): void {
    if (layer) this.layers.push(layer);
    this.index++;
  }
}

export function parseResnetBlocks(netG: string): number | null {
  const m = /^resnet_(\d+)blocks$/.exec(netG);
  return m ? Number(m[1]) : null;
}

export function generatorSpec(o: GeneratorOptions): NetworkSpec {
  const nBlocks = parseResnetBlocks(o.netG);
  let layers: Layer[];
  if (nBlocks !== null) layers = resnetGenerator(o, nBlocks);
  else if (o.netG === 'unet_256') layers = unetGenerator(o, 8);
  else if (o.netG === 'unet_128') layers = unetGenerator(o, 7);
  else throw new Error(`unknown generator architecture '${o.netG}' (expected resnet_<n>blocks, unet_256 or unet_128)`);
  return { kind: 'generator', inputNc: o.inputNc, outputNc: o.outputNc, layers };
}

function resnetGenerator(o: GeneratorOptions, nBlocks: number): Layer[] {
  const bias = useBias(o.norm);
  const s = new Seq('model.');
  s.push({ op: 'reflectPad', pad: 3 });
  s.push({ op: 'conv', name: s.nextName(), inC: o.inputNc, outC: o.ngf, kernel: 7, stride: 1, pad: 0, bias });
  s.push(normLayer(o.norm, s.nextName(), o.ngf));
  s.push({ op: 'relu' });
  const nDown = 2;
  for (let i = 0; i < nDown; i++) {
    const mult = 2 ** i;
    const inC = o.ngf * mult;
    const outC = inC * 2;
    s.push({ op: 'conv', name: s.nextName(), inC, outC, kernel: 3, stride: 2, pad: 1, bias });
    s.push(normLayer(o.norm, s.nextName(), outC));
    s.push({ op: 'relu' });
  }
  const dim = o.ngf * 2 ** nDown;
  for (let i = 0; i < nBlocks; i++) {
    const b = new Seq(`${s.nextName()}.conv_block.`);
    b.push({ op: 'reflectPad', pad: 1 });
    b.push({ op: 'conv', name: b.nextName(), inC: dim, outC: dim, kernel: 3, stride: 1, pad: 0, bias });
    b.push(normLayer(o.norm, b.nextName(), dim));
    b.push({ op: 'relu' });
    if (o.useDropout) b.push({ op: 'dropout', rate: 0.5 });
    b.push({ op: 'reflectPad', pad: 1 });
    b.push({ op: 'conv', name: b.nextName(), inC: dim, outC: dim, kernel: 3, stride: 1, pad: 0, bias });
    b.push(normLayer(o.norm, b.nextName(), dim));
    s.push({ op: 'residual', body: b.layers });
  }
  for (let i = 0; i < nDown; i++) {
    const mult = 2 ** (nDown - i);
    const inC = o.ngf * mult;
    const outC = inC / 2;
    s.push({
      op: 'convTranspose',
      name: s.nextName(),
      inC,
      outC,
      kernel: 3,
      stride: 2,
      pad: 1,
      outputPad: 1,
      bias,
    });
    s.push(normLayer(o.norm, s.nextName(), outC));
    s.push({ op: 'relu' });
  }
  s.push({ op: 'reflectPad', pad: 3 });
  s.push({ op: 'conv', name: s.nextName(), inC: o.ngf, outC: o.outputNc, kernel: 7, stride: 1, pad: 0, bias: true });
  s.push({ op: 'tanh' });
  return s.layers;
}

/**
 * U-Net as UnetSkipConnectionBlock nests it. The official blocks start with an in-place
 * LeakyReLU, which also rewrites the tensor the skip connection concatenates; we apply it before
 * the skip to say the same thing. (It cannot change results: every concat feeds the parent's
 * ReLU, and relu(leaky_relu(x)) = relu(x); tools/make_golden.py checks that.)
 */
function unetGenerator(o: GeneratorOptions, numDowns: number): Layer[] {
  const bias = useBias(o.norm);
  const ngf = o.ngf;
  // Channel plan from innermost to outermost, as UnetGenerator builds it.
  type Block = { outer: number; inner: number; input: number; dropout: boolean };
  const blocks: Block[] = [{ outer: ngf * 8, inner: ngf * 8, input: ngf * 8, dropout: false }];
  for (let i = 0; i < numDowns - 5; i++)
    blocks.push({ outer: ngf * 8, inner: ngf * 8, input: ngf * 8, dropout: o.useDropout });
  blocks.push({ outer: ngf * 4, inner: ngf * 8, input: ngf * 4, dropout: false });
  blocks.push({ outer: ngf * 2, inner: ngf * 4, input: ngf * 2, dropout: false });
  blocks.push({ outer: ngf, inner: ngf * 2, input: ngf, dropout: false });

  const build = (depth: number, prefix: string): Layer[] => {
    // depth indexes `blocks` from the outside in (blocks.length - 1 is the outermost-but-one).
    const b = blocks[depth];
    const innermost = depth === 0;
    const s = new Seq(prefix);
    s.push({ op: 'leakyRelu', alpha: 0.2 });
    s.push({ op: 'conv', name: s.nextName(), inC: b.input, outC: b.inner, kernel: 4, stride: 2, pad: 1, bias });
    if (!innermost) {
      s.push(normLayer(o.norm, s.nextName(), b.inner));
      for (const l of build(depth - 1, `${s.nextName()}.model.`)) s.layers.push(l);
      s.push(null); // the submodule's index
    }
    s.push({ op: 'relu' });
    const upIn = innermost ? b.inner : b.inner * 2;
    s.push({
      op: 'convTranspose',
      name: s.nextName(),
      inC: upIn,
      outC: b.outer,
      kernel: 4,
      stride: 2,
      pad: 1,
      outputPad: 0,
      bias,
    });
    s.push(normLayer(o.norm, s.nextName(), b.outer));
    if (b.dropout) s.push({ op: 'dropout', rate: 0.5 });
    // Leading LeakyReLU belongs to this block but acts on the skip too, so it sits outside the concat.
    const [lrelu, ...body] = s.layers;
    return [lrelu, { op: 'skipConcat', body }];
  };

  const s = new Seq('model.model.');
  s.push({ op: 'conv', name: s.nextName(), inC: o.inputNc, outC: ngf, kernel: 4, stride: 2, pad: 1, bias });
  const inner = build(blocks.length - 1, `${s.nextName()}.model.`);
  for (const l of inner) s.layers.push(l);
  s.push(null); // the submodule's index
  s.push({ op: 'relu' });
  s.push({
    op: 'convTranspose',
    name: s.nextName(),
    inC: ngf * 2,
    outC: o.outputNc,
    kernel: 4,
    stride: 2,
    pad: 1,
    outputPad: 0,
    bias: true,
  });
  s.push({ op: 'tanh' });
  return s.layers;
}

export function discriminatorSpec(o: DiscriminatorOptions): NetworkSpec {
  let layers: Layer[];
  if (o.netD === 'basic') layers = nLayerDiscriminator(o, 3);
  else if (o.netD === 'n_layers') layers = nLayerDiscriminator(o, o.nLayersD);
  else if (o.netD === 'pixel') layers = pixelDiscriminator(o);
  else throw new Error(`unknown discriminator architecture '${String(o.netD)}' (expected basic, n_layers or pixel)`);
  return { kind: 'discriminator', inputNc: o.inputNc, outputNc: 1, layers };
}

function nLayerDiscriminator(o: DiscriminatorOptions, nLayers: number): Layer[] {
  if (!Number.isInteger(nLayers) || nLayers < 1)
    throw new Error(`n_layers_D must be a positive integer, got ${nLayers}`);
  const bias = useBias(o.norm);
  const s = new Seq('model.');
  s.push({ op: 'conv', name: s.nextName(), inC: o.inputNc, outC: o.ndf, kernel: 4, stride: 2, pad: 1, bias: true });
  s.push({ op: 'leakyRelu', alpha: 0.2 });
  let mult = 1;
  for (let n = 1; n <= nLayers; n++) {
    const prev = mult;
    mult = Math.min(2 ** n, 8);
    const stride = n < nLayers ? 2 : 1;
    s.push({ op: 'conv', name: s.nextName(), inC: o.ndf * prev, outC: o.ndf * mult, kernel: 4, stride, pad: 1, bias });
    s.push(normLayer(o.norm, s.nextName(), o.ndf * mult));
    s.push({ op: 'leakyRelu', alpha: 0.2 });
  }
  s.push({ op: 'conv', name: s.nextName(), inC: o.ndf * mult, outC: 1, kernel: 4, stride: 1, pad: 1, bias: true });
  return s.layers;
}

function pixelDiscriminator(o: DiscriminatorOptions): Layer[] {
  const bias = useBias(o.norm);
  const s = new Seq('net.');
  s.push({ op: 'conv', name: s.nextName(), inC: o.inputNc, outC: o.ndf, kernel: 1, stride: 1, pad: 0, bias: true });
  s.push({ op: 'leakyRelu', alpha: 0.2 });
  s.push({ op: 'conv', name: s.nextName(), inC: o.ndf, outC: o.ndf * 2, kernel: 1, stride: 1, pad: 0, bias });
  s.push(normLayer(o.norm, s.nextName(), o.ndf * 2));
  s.push({ op: 'leakyRelu', alpha: 0.2 });
  s.push({ op: 'conv', name: s.nextName(), inC: o.ndf * 2, outC: 1, kernel: 1, stride: 1, pad: 0, bias });
  return s.layers;
}

/** Every parameter and buffer of a network, in state_dict order. */
export function paramSpecs(spec: NetworkSpec): ParamSpec[] {
  const out: ParamSpec[] = [];
  const walk = (layers: Layer[]): void => {
    for (const l of layers) {
      switch (l.op) {
        case 'conv':
          out.push({
            key: `${l.name}.weight`,
            role: 'convWeight',
            shape: [l.outC, l.inC, l.kernel, l.kernel],
            trainable: true,
          });
          if (l.bias) out.push({ key: `${l.name}.bias`, role: 'bias', shape: [l.outC], trainable: true });
          break;
        case 'convTranspose':
          out.push({
            key: `${l.name}.weight`,
            role: 'convTransposeWeight',
            shape: [l.inC, l.outC, l.kernel, l.kernel],
            trainable: true,
          });
          if (l.bias) out.push({ key: `${l.name}.bias`, role: 'bias', shape: [l.outC], trainable: true });
          break;
        case 'batchNorm':
          out.push({ key: `${l.name}.weight`, role: 'bnWeight', shape: [l.channels], trainable: true });
          out.push({ key: `${l.name}.bias`, role: 'bnBias', shape: [l.channels], trainable: true });
          out.push({ key: `${l.name}.running_mean`, role: 'bnMean', shape: [l.channels], trainable: false });
          out.push({ key: `${l.name}.running_var`, role: 'bnVar', shape: [l.channels], trainable: false });
          break;
        case 'residual':
        case 'skipConcat':
          walk(l.body);
          break;
        default:
          break;
      }
    }
  };
  walk(spec.layers);
  return out;
}

/** Spatial sides must be multiples of this for the generator to return the input's size. */
export function sizeMultiple(spec: NetworkSpec): number {
  let m = 1;
  const walk = (layers: Layer[], scale: number): void => {
    for (const l of layers) {
      if (l.op === 'conv' && l.stride > 1) scale *= l.stride;
      if (l.op === 'residual' || l.op === 'skipConcat') walk(l.body, scale);
      m = Math.max(m, scale);
    }
  };
  walk(spec.layers, 1);
  return m;
}
