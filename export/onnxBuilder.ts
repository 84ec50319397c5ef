/**
 * Builds an ONNX generator graph by walking the shared architecture description
 * (core/arch/spec.ts), the same Layer list the tfjs networks walk.
 *
 * The graph is pure NCHW, like a PyTorch export: input `input` float32 [N, C, H, W] in [-1, 1],
 * output `output` float32 [N, C_out, H_out, W_out], with N/H/W symbolic. PyTorch state_dict
 * layouts already are the ONNX ones (Conv W [out, in, kH, kW]; ConvTranspose W [in, out, kH, kW]),
 * so weights go in unpermuted and the body has no Transpose nodes. Initializers keep their
 * state_dict names, as torch.onnx.export names them.
 */
import { onnx } from 'onnx-proto';
import type { Layer, NetworkSpec } from '../core/arch/spec';
import { paramSpecs } from '../core/arch/spec';
import { tileGeometry, tilingNames } from '../core/arch/tileGeometry';
import type { StateDict } from '../core/arch/stateDict';
import { numel } from '../core/arch/stateDict';
import { attribute, GraphWriter, irVersionFor, tensorType } from '../core/onnx/graphWriter';

export const DEFAULT_OPSET = 17;
/** Pad takes `pads` as an input from opset 11; everything else used here is older. */
export const MIN_OPSET = 13;
/** Newest opset this builder has been checked against with onnxruntime-node. */
export const MAX_OPSET = 21;

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'output';

export interface BuildOptions {
  opset?: number;
  /** Half-precision weights and arithmetic; the graph still takes and returns float32 (Cast at both ends). */
  fp16?: boolean;
  /** Graph name, e.g. `horse2zebra AtoB`. */
  name?: string;
  producerVersion?: string;
  docString?: string;
  /**
   * `plain`: the generator. The two tiling graphs (instance-norm generators only; inputs `mean_k`,
   * `var_k` [C] per instance-norm layer k, in graph order):
   * `apply`: instance norm k normalises with the given `mean_k`, `var_k` instead of the tensor's own;
   * `statistics`: instance norm k normalises with the given statistics where input `given` [K] is 1,
   * with its own where 0, and the graph returns `sum_k`, `sumsq_k` [C]: Σ (x − mean_k) and
   * Σ (x − mean_k)² of its input over `region` (int64 [y0, x0, y1, x1] in input pixels, multiples
   * of the layer's scale), and `own_mean_k`, `own_var_k` [C]: the input's own statistics. Own
   * statistics give a whole image's in one run; given ones for layers before k make layer k's sums
   * over a tile's core exact, accumulated tile by tile.
   */
  variant?: GraphVariant;
}

export type GraphVariant = 'plain' | 'statistics' | 'apply';

const { DataType } = onnx.TensorProto;

/**
 * Checks `weights` against the spec: every parameter present with its PyTorch shape, nothing
 * else (PyTorch's `num_batches_tracked` counters aside, which inference does not use). Extra keys
 * usually mean the options describe a different architecture than was trained.
 */
export function checkWeights(spec: NetworkSpec, weights: StateDict, where = 'weights'): void {
  const expected = paramSpecs(spec);
  const keys = new Set(expected.map((p) => p.key));
  for (const p of expected) {
    const t = weights.get(p.key);
    if (!t) throw new Error(`${where}: missing parameter '${p.key}'`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
      throw new Error(`${where}: parameter '${p.key}' has shape [${t.shape}], expected [${p.shape}]`);
    if (t.data.length !== numel(p.shape))
      throw new Error(`${where}: parameter '${p.key}' has the wrong number of values`);
  }
  for (const k of weights.keys())
    if (!keys.has(k) && !k.endsWith('.num_batches_tracked')) throw new Error(`${where}: unexpected parameter '${k}'`);
}

export function buildGeneratorOnnx(spec: NetworkSpec, weights: StateDict, opts: BuildOptions = {}): Uint8Array {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET)
    throw new Error(`opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
  checkWeights(spec, weights);
  const variant = opts.variant ?? 'plain';
  const fp16 = opts.fp16 ?? false;
  if (variant !== 'plain' && fp16) throw new Error('the tiling graphs are float32 only');
  const extraInputs: onnx.IValueInfoProto[] = [];
  const extraOutputs: onnx.IValueInfoProto[] = [];
  let normIndex = 0;
  const g = new GraphWriter(fp16);
  g.fresh(INPUT_NAME);
  g.fresh(OUTPUT_NAME);

  const param = (key: string): string => {
    const t = weights.get(key)!;
    return g.floatInit(key, t.shape, t.data);
  };

  const scales = tileGeometry(spec).normLayers.map((l) => l.scale);
  const K = scales.length;
  if (variant !== 'plain' && K === 0) throw new Error(`the ${variant} graph is for instance-norm generators`);
  if (variant === 'statistics') {
    extraInputs.push({ name: tilingNames.given, type: tensorType(DataType.FLOAT, [K]) });
    extraInputs.push({ name: tilingNames.region, type: tensorType(DataType.INT64, [4]) });
    g.fresh(tilingNames.given);
    g.fresh(tilingNames.region);
  }
  const hw = (): string => g.sharedInt64('axes_hw', [2, 3]);
  const chw = (): string => g.sharedInt64('axes_hw_of_chw', [1, 2]);
  const graphInput = (name: string, channels: number): string => {
    g.fresh(name);
    extraInputs.push({ name, type: tensorType(DataType.FLOAT, [channels]) });
    return name;
  };
  const graphOutput = (t: string, name: string, channels: number, where: string): void => {
    g.nodes.push({ opType: 'Identity', name: g.fresh(`${where}/Identity`), input: [t], output: [name] });
    extraOutputs.push({ name, type: tensorType(DataType.FLOAT, [channels]) });
  };
  /** Mean over H and W of [1, C, H, W] as [C] (ReduceMean's `axes` is an attribute before opset 18). */
  const spatialMean = (x: string, where: string): string => {
    const m =
      opset >= 18
        ? g.node('ReduceMean', [x, hw()], where, { keepdims: 0 })
        : g.node('ReduceMean', [x], where, { axes: [2, 3], keepdims: 0 });
    return g.node('Squeeze', [m, g.sharedInt64('axis_0', [0])], where);
  };

  /** Instance norm k in the tiling graphs: (x − mean) / sqrt(var + eps) with given (or own) statistics. */
  const tilingNorm = (x: string, k: number, channels: number, eps: number, where: string): string => {
    let mean = graphInput(tilingNames.mean(k), channels);
    let variance = graphInput(tilingNames.variance(k), channels);
    if (variant === 'statistics') {
      // Region sums, centred on the given mean (close to the true one, so E[d²] − E[d]² keeps its digits).
      const d = g.node('Sub', [x, g.node('Unsqueeze', [mean, chw()], where)], where);
      const s = scales[k];
      const starts = g.node(
        'Div',
        [
          g.node('Slice', [tilingNames.region, g.sharedInt64('i0', [0]), g.sharedInt64('i2', [2])], where),
          g.sharedInt64(`scale_${s}`, [s]),
        ],
        where,
      );
      const ends = g.node(
        'Div',
        [
          g.node('Slice', [tilingNames.region, g.sharedInt64('i2', [2]), g.sharedInt64('i4', [4])], where),
          g.sharedInt64(`scale_${s}`, [s]),
        ],
        where,
      );
      const dr = g.node('Slice', [d, starts, ends, hw()], where);
      const sumAxes = g.sharedInt64('axes_nhw', [0, 2, 3]);
      graphOutput(g.node('ReduceSum', [dr, sumAxes], where, { keepdims: 0 }), tilingNames.sum(k), channels, where);
      const sq = g.node('ReduceSum', [g.node('Mul', [dr, dr], where), sumAxes], where, { keepdims: 0 });
      graphOutput(sq, tilingNames.sumSquares(k), channels, where);
      // given_k ? given : own statistics (the tile's own, for a whole downscaled image).
      const gk = g.node('Gather', [tilingNames.given, g.sharedInt64(`k_${k}`, [k])], where, { axis: 0 });
      const ownMean = spatialMean(x, where);
      const dc = g.node('Sub', [x, g.node('Unsqueeze', [ownMean, chw()], where)], where);
      const ownVar = spatialMean(g.node('Mul', [dc, dc], where), where);
      graphOutput(ownMean, tilingNames.ownMean(k), channels, where);
      graphOutput(ownVar, tilingNames.ownVariance(k), channels, where);
      const mix = (given: string, own: string): string =>
        g.node('Add', [own, g.node('Mul', [gk, g.node('Sub', [given, own], where)], where)], where);
      mean = mix(mean, ownMean);
      variance = mix(variance, ownVar);
    }
    const std = g.node('Sqrt', [g.node('Add', [variance, g.sharedFloat(`eps_${eps}`, [1], eps)], where)], where);
    const centred = g.node('Sub', [x, g.node('Unsqueeze', [mean, chw()], where)], where);
    return g.node('Div', [centred, g.node('Unsqueeze', [std, chw()], where)], where);
  };

  const walk = (layers: Layer[], x: string, scope: string): string => {
    for (const l of layers) {
      switch (l.op) {
        case 'conv': {
          const inputs = [x, param(`${l.name}.weight`)];
          if (l.bias) inputs.push(param(`${l.name}.bias`));
          x = g.node('Conv', inputs, l.name, {
            dilations: [1, 1],
            group: 1,
            kernel_shape: [l.kernel, l.kernel],
            pads: [l.pad, l.pad, l.pad, l.pad],
            strides: [l.stride, l.stride],
          });
          break;
        }
        case 'convTranspose': {
          // ONNX output size = stride*(in-1) + output_padding + k - pad_begin - pad_end: PyTorch's formula.
          const inputs = [x, param(`${l.name}.weight`)];
          if (l.bias) inputs.push(param(`${l.name}.bias`));
          x = g.node('ConvTranspose', inputs, l.name, {
            dilations: [1, 1],
            group: 1,
            kernel_shape: [l.kernel, l.kernel],
            output_padding: [l.outputPad, l.outputPad],
            pads: [l.pad, l.pad, l.pad, l.pad],
            strides: [l.stride, l.stride],
          });
          break;
        }
        case 'reflectPad': {
          const p = l.pad;
          const pads = g.sharedInt64(`pads_reflect_${p}`, [0, 0, p, p, 0, 0, p, p]);
          x = g.node('Pad', [x, pads], `${scope}ReflectionPad2d`, { mode: 'reflect' });
          break;
        }
        case 'instanceNorm': {
          const where = `${scope}InstanceNorm2d`;
          if (variant !== 'plain') {
            x = tilingNorm(x, normIndex++, l.channels, l.eps, where);
            break;
          }
          // InstanceNorm2d(affine=False) is ONNX InstanceNormalization with scale 1 and bias 0.
          const scale = g.sharedFloat(`instance_norm_scale_${l.channels}`, [l.channels], 1);
          const bias = g.sharedFloat(`instance_norm_bias_${l.channels}`, [l.channels], 0);
          x = g.node('InstanceNormalization', [x, scale, bias], where, { epsilon: l.eps });
          break;
        }
        case 'batchNorm': {
          // Inference mode: normalise with the running statistics (PyTorch eval()).
          const inputs = ['weight', 'bias', 'running_mean', 'running_var'].map((s) => param(`${l.name}.${s}`));
          x = g.node('BatchNormalization', [x, ...inputs], l.name, { epsilon: l.eps, momentum: 1 - l.momentum });
          break;
        }
        case 'relu':
          x = g.node('Relu', [x], `${scope}ReLU`);
          break;
        case 'leakyRelu':
          x = g.node('LeakyRelu', [x], `${scope}LeakyReLU`, { alpha: l.alpha });
          break;
        case 'tanh':
          x = g.node('Tanh', [x], `${scope}Tanh`);
          break;
        case 'dropout':
          // Identity at inference, as in PyTorch eval(); nothing to emit.
          break;
        case 'residual': {
          const y = walk(l.body, x, `${scope}ResnetBlock/`);
          x = g.node('Add', [x, y], `${scope}ResnetBlock`);
          break;
        }
        case 'skipConcat': {
          const y = walk(l.body, x, `${scope}UnetSkipConnectionBlock/`);
          x = g.node('Concat', [x, y], `${scope}UnetSkipConnectionBlock`, { axis: 1 });
          break;
        }
      }
    }
    return x;
  };

  let x = INPUT_NAME;
  if (fp16) x = g.node('Cast', [x], 'input', { to: DataType.FLOAT16 });
  x = walk(spec.layers, x, '');
  if (fp16) {
    g.nodes.push({
      opType: 'Cast',
      name: g.fresh('/output/Cast'),
      input: [x],
      output: [OUTPUT_NAME],
      attribute: [attribute('to', DataType.FLOAT)],
    });
  } else {
    g.renameOutput(x, OUTPUT_NAME);
  }

  const model: onnx.IModelProto = {
    irVersion: irVersionFor(opset),
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'cyclegan-ts',
    producerVersion: opts.producerVersion ?? '',
    docString: opts.docString ?? '',
    graph: {
      name: opts.name ?? 'generator',
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: INPUT_NAME, type: tensorType(DataType.FLOAT, ['N', spec.inputNc, 'H', 'W']) }, ...extraInputs],
      output: [
        { name: OUTPUT_NAME, type: tensorType(DataType.FLOAT, ['N', spec.outputNc, 'H_out', 'W_out']) },
        ...extraOutputs,
      ],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
