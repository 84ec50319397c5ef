/**
 * The TypeScript-built ONNX generator against PyTorch: weights from the golden fixtures
 * (tests/fixtures/golden, tools/make_golden.py) and tests/fixtures/onnx, run in onnxruntime-node.
 */
import { onnx } from 'onnx-proto';
import type { Layer, NetworkSpec } from '../../core/arch/spec';
import { generatorSpec, paramSpecs } from '../../core/arch/spec';
import type { StateDict } from '../../core/arch/stateDict';
import { buildGeneratorOnnx, checkWeights, MAX_OPSET, MIN_OPSET } from '../../export/onnxBuilder';
import { referenceGenerator } from '../../export/referenceForward';
import { compareOutputs, runOnnx } from '../../export/verify';
import { loadGolden } from '../helpers/golden';
import { loadOnnxFixture, randomWeights } from '../helpers/exportFixtures';

const TOL = 1e-4;

/** Golden generator cases whose PyTorch output does not depend on train/eval mode (no batch norm, no dropout). */
const MODE_FREE = ['g_resnet_instance', 'g_resnet_none', 'g_resnet_gray', 'g_resnet_nonsquare', 'g_unet128'];

function goldenWeights(name: string): { spec: NetworkSpec; weights: StateDict } {
  const g = loadGolden(name);
  const spec = generatorSpec(g.config.generator!);
  return { spec, weights: g.group('state/') };
}

async function maxDiffVsGolden(name: string, weights: StateDict, spec: NetworkSpec): Promise<number> {
  const g = loadGolden(name);
  const input = g.tensor('input');
  const out = await runOnnx(buildGeneratorOnnx(spec, weights), input.data, input.shape);
  expect([...out.dims]).toEqual(g.tensor('output').shape);
  return compareOutputs(out.data as Float32Array, g.tensor('output').data).max;
}

describe('ONNX generator vs PyTorch golden outputs (onnxruntime-node, CPU)', () => {
  test.each(MODE_FREE)('%s', async (name) => {
    const { spec, weights } = goldenWeights(name);
    const g = loadGolden(name);
    // The fixture must exercise something: outputs spread over tanh's range, not a flat image.
    const out = g.tensor('output').data;
    expect(Math.max(...out) - Math.min(...out)).toBeGreaterThan(0.5);
    expect(await maxDiffVsGolden(name, weights, spec)).toBeLessThanOrEqual(TOL);
  });

  /**
   * The batch-norm goldens ran in training mode (batch statistics). The statistics they used are
   * recoverable from the running-stat update (new = (1 - m)·old + m·batch, variance unbiased), so
   * an inference-mode graph with running stats := batch stats must reproduce PyTorch's output.
   */
  test.each(['g_resnet_batch', 'g_unet256'])(
    '%s (training-mode batch norm, via its batch statistics)',
    async (name) => {
      const g = loadGolden(name);
      const { spec, weights } = goldenWeights(name);
      expect(g.config.training).toBe(true);
      const counts = batchNormCounts(spec, g.tensor('input').shape);
      const stats: StateDict = new Map(weights);
      let layers = 0;
      const walk = (ls: Layer[]): void => {
        for (const l of ls) {
          if (l.op === 'residual' || l.op === 'skipConcat') walk(l.body);
          if (l.op !== 'batchNorm') continue;
          layers++;
          const m = l.momentum;
          const n = counts.get(l.name)!;
          const before = (s: string) => weights.get(`${l.name}.${s}`)!.data;
          const after = (s: string) => g.tensor(`stateAfter/${l.name}.${s}`).data;
          const mean = before('running_mean').map((o, i) => (after('running_mean')[i] - (1 - m) * o) / m);
          const unbiased = before('running_var').map((o, i) => (after('running_var')[i] - (1 - m) * o) / m);
          stats.set(`${l.name}.running_mean`, { shape: [l.channels], data: mean });
          stats.set(`${l.name}.running_var`, { shape: [l.channels], data: unbiased.map((v) => (v * (n - 1)) / n) });
        }
      };
      walk(spec.layers);
      expect(layers).toBeGreaterThan(0);
      expect(await maxDiffVsGolden(name, stats, spec)).toBeLessThanOrEqual(TOL);
      // And with the stored running stats instead the output differs: batch norm really is in inference mode.
      expect(await maxDiffVsGolden(name, weights, spec)).toBeGreaterThan(1e-2);
    },
  );

  test('batch norm + dropout in eval() mode (tests/fixtures/onnx/resnet_batch_dropout_eval)', async () => {
    const f = loadOnnxFixture('resnet_batch_dropout_eval');
    const spec = generatorSpec(f.generator);
    expect(f.generator).toMatchObject({ norm: 'batch', useDropout: true });
    const input = f.tensor('input/nonsquare');
    const out = await runOnnx(buildGeneratorOnnx(spec, f.state), input.data, input.shape);
    expect([...out.dims]).toEqual(f.tensor('output/nonsquare').shape);
    expect(compareOutputs(out.data as Float32Array, f.tensor('output/nonsquare').data).max).toBeLessThanOrEqual(TOL);
  });

  test('the plain TypeScript reference forward pass (the exporter default) matches PyTorch too', async () => {
    for (const name of [...MODE_FREE]) {
      const { spec, weights } = goldenWeights(name);
      const g = loadGolden(name);
      const input = g.tensor('input');
      const out = await referenceGenerator(spec, weights)(input.data, input.shape);
      expect(compareOutputs(out, g.tensor('output').data).max).toBeLessThanOrEqual(TOL);
    }
    const f = loadOnnxFixture('resnet_batch_dropout_eval');
    const out = await referenceGenerator(generatorSpec(f.generator), f.state)(
      f.tensor('input/nonsquare').data,
      f.tensor('input/nonsquare').shape,
    );
    expect(compareOutputs(out, f.tensor('output/nonsquare').data).max).toBeLessThanOrEqual(TOL);
  });
});

/** N·H·W that each batch-norm layer averages over, for an NCHW input of `shape`. */
function batchNormCounts(spec: NetworkSpec, shape: number[]): Map<string, number> {
  const counts = new Map<string, number>();
  const walk = (ls: Layer[], h: number, w: number): [number, number] => {
    for (const l of ls) {
      if (l.op === 'conv') {
        h = Math.floor((h + 2 * l.pad - l.kernel) / l.stride) + 1;
        w = Math.floor((w + 2 * l.pad - l.kernel) / l.stride) + 1;
      } else if (l.op === 'convTranspose') {
        h = (h - 1) * l.stride - 2 * l.pad + l.kernel + l.outputPad;
        w = (w - 1) * l.stride - 2 * l.pad + l.kernel + l.outputPad;
      } else if (l.op === 'reflectPad') {
        h += 2 * l.pad;
        w += 2 * l.pad;
      } else if (l.op === 'batchNorm') counts.set(l.name, shape[0] * h * w);
      else if (l.op === 'residual' || l.op === 'skipConcat') walk(l.body, h, w);
    }
    return [h, w];
  };
  walk(spec.layers, shape[2], shape[3]);
  return counts;
}

/** The model as plain objects, int64 fields as numbers. */
function decodeModel(bytes: Uint8Array): onnx.IModelProto {
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number });
}

describe('ONNX graph conventions', () => {
  const { spec, weights } = goldenWeights('g_resnet_instance');
  const model = decodeModel(buildGeneratorOnnx(spec, weights));
  const graph = model.graph!;
  const ops = graph.node!.map((n) => n.opType);
  const attr = (n: onnx.INodeProto, name: string) => n.attribute!.find((a) => a.name === name);

  test('opset 17 by default, NCHW input/output with symbolic N/H/W', () => {
    expect(model.opsetImport).toEqual([expect.objectContaining({ domain: '', version: 17 })]);
    const dims = (v: onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || d.dimValue);
    expect(graph.input!.map((i) => i.name)).toEqual(['input']);
    expect(graph.output!.map((o) => o.name)).toEqual(['output']);
    expect(graph.input![0].type!.tensorType!.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    expect(dims(graph.input![0])).toEqual(['N', 3, 'H', 'W']);
    expect(dims(graph.output![0])).toEqual(['N', 3, 'H_out', 'W_out']);
  });

  test('operators: reflect Pad, InstanceNormalization(1, 0, 1e-5), ConvTranspose with output_padding, Add; no Transpose', () => {
    expect(ops).not.toContain('Transpose');
    expect(ops).not.toContain('Dropout');
    expect(new Set(ops)).toEqual(
      new Set(['Pad', 'Conv', 'InstanceNormalization', 'Relu', 'Add', 'ConvTranspose', 'Tanh']),
    );
    const pads = graph.node!.filter((n) => n.opType === 'Pad');
    expect(pads).toHaveLength(2 + 2 * 2); // outer 7×7 convs + two per residual block
    for (const p of pads) expect(Buffer.from(attr(p, 'mode')!.s!).toString()).toBe('reflect');
    const inits = new Map(graph.initializer!.map((t) => [t.name!, t]));
    for (const n of graph.node!.filter((x) => x.opType === 'InstanceNormalization')) {
      expect(attr(n, 'epsilon')!.f).toBeCloseTo(1e-5, 10);
      const scale = inits.get(n.input![1])!;
      const bias = inits.get(n.input![2])!;
      expect([...new Float32Array(new Uint8Array(scale.rawData!).slice().buffer)].every((v) => v === 1)).toBe(true);
      expect([...new Float32Array(new Uint8Array(bias.rawData!).slice().buffer)].every((v) => v === 0)).toBe(true);
    }
    const ct = graph.node!.filter((n) => n.opType === 'ConvTranspose');
    expect(ct).toHaveLength(2);
    for (const n of ct) {
      expect(attr(n, 'output_padding')!.ints!).toEqual([1, 1]);
      expect(attr(n, 'pads')!.ints!).toEqual([1, 1, 1, 1]);
      expect(attr(n, 'strides')!.ints!).toEqual([2, 2]);
    }
  });

  test('weights are the state_dict tensors, by name and in PyTorch = ONNX layout', () => {
    const inits = new Map(graph.initializer!.map((t) => [t.name!, t]));
    for (const p of paramSpecs(spec)) {
      const t = inits.get(p.key)!;
      expect(t.dims!).toEqual(p.shape);
      const data = new Float32Array(new Uint8Array(t.rawData!).slice().buffer);
      expect(data).toEqual(weights.get(p.key)!.data);
    }
    // ConvTranspose2d weights stay [in, out, k, k].
    expect(inits.get('model.12.weight')!.dims).toEqual([32, 16, 3, 3]);
  });

  test('batch norm maps to BatchNormalization with running stats; U-Net skips to Concat', () => {
    const u = goldenWeights('g_unet256');
    const g = decodeModel(buildGeneratorOnnx(u.spec, u.weights)).graph!;
    const bn = g.node!.filter((n) => n.opType === 'BatchNormalization');
    expect(bn.length).toBe(paramSpecs(u.spec).filter((p) => p.role === 'bnMean').length);
    for (const n of bn) {
      expect(n.input![3]).toMatch(/\.running_mean$/);
      expect(n.input![4]).toMatch(/\.running_var$/);
      expect(n.output).toHaveLength(1);
    }
    const concats = g.node!.filter((n) => n.opType === 'Concat');
    expect(concats).toHaveLength(7); // every U-Net block but the outermost
    for (const n of concats) expect(attr(n, 'axis')!.i).toBe(1);
    expect(g.node!.filter((n) => n.opType === 'LeakyRelu')).toHaveLength(7);
  });

  test('batch size and spatial size are dynamic', async () => {
    const bytes = buildGeneratorOnnx(spec, weights);
    const ref = referenceGenerator(spec, weights);
    for (const shape of [
      [3, 3, 16, 16],
      [1, 3, 20, 36],
    ]) {
      const input = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37));
      const out = await runOnnx(bytes, input, shape);
      expect([...out.dims]).toEqual(shape);
      expect(compareOutputs(out.data as Float32Array, await ref(input, shape)).max).toBeLessThanOrEqual(TOL);
    }
  });

  test.each([MIN_OPSET, MAX_OPSET])('opset %i builds a graph onnxruntime runs identically', async (opset) => {
    const g = loadGolden('g_resnet_instance');
    const input = g.tensor('input');
    const m = buildGeneratorOnnx(spec, weights, { opset });
    expect(decodeModel(m).opsetImport![0].version).toBe(opset);
    const out = await runOnnx(m, input.data, input.shape);
    expect(compareOutputs(out.data as Float32Array, g.tensor('output').data).max).toBeLessThanOrEqual(TOL);
  });

  test('rejects an opset outside the supported range', () => {
    expect(() => buildGeneratorOnnx(spec, weights, { opset: MIN_OPSET - 1 })).toThrow(/opset must be/);
    expect(() => buildGeneratorOnnx(spec, weights, { opset: MAX_OPSET + 1 })).toThrow(/opset must be/);
  });
});

describe('weights are checked against the architecture', () => {
  const spec = generatorSpec({
    netG: 'resnet_2blocks',
    inputNc: 3,
    outputNc: 3,
    ngf: 4,
    norm: 'batch',
    useDropout: false,
  });
  const good = (): StateDict => randomWeights(spec, 7);

  test('accepts a complete state_dict, ignoring PyTorch num_batches_tracked counters', () => {
    const w = good();
    w.set('model.2.num_batches_tracked', { shape: [], data: new Float32Array([5]) });
    expect(() => checkWeights(spec, w)).not.toThrow();
  });

  test('missing, misshapen and unexpected parameters are named', () => {
    const missing = good();
    missing.delete('model.10.conv_block.1.weight');
    expect(() => buildGeneratorOnnx(spec, missing)).toThrow("missing parameter 'model.10.conv_block.1.weight'");
    const shape = good();
    shape.set('model.1.weight', { shape: [4, 3, 3, 3], data: new Float32Array(108) });
    expect(() => buildGeneratorOnnx(spec, shape)).toThrow("'model.1.weight' has shape [4,3,3,3], expected [4,3,7,7]");
    const extra = good();
    // A resnet_3blocks checkpoint read as resnet_2blocks.
    extra.set('model.12.conv_block.1.weight', { shape: [16, 16, 3, 3], data: new Float32Array(16 * 16 * 9) });
    expect(() => buildGeneratorOnnx(spec, extra)).toThrow("unexpected parameter 'model.12.conv_block.1.weight'");
  });
});
