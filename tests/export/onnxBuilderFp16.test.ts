/** Half-precision export: float16 rounding, the Cast-wrapped graph, and its stated error bound. */
import { onnx } from 'onnx-proto';
import { generatorSpec } from '../../core/arch/spec';
import { fromFloat16Bits, toFloat16Array, toFloat16Bits } from '../../core/onnx/float16';
import { buildGeneratorOnnx } from '../../export/onnxBuilder';
import { compareOutputs, FP16_TOLERANCE, runOnnx } from '../../export/verify';
import { loadGolden } from '../helpers/golden';
import { loadOnnxFixture } from '../helpers/exportFixtures';

describe('float32 → float16 conversion', () => {
  test.each(
    (
      [
        [0, 0x0000],
        [-0, 0x8000],
        [1, 0x3c00],
        [-2, 0xc000],
        [0.5, 0x3800],
        [65504, 0x7bff], // largest finite half
        [65520, 0x7c00], // rounds up to +Inf
        [Infinity, 0x7c00],
        [-Infinity, 0xfc00],
        [2 ** -14, 0x0400], // smallest normal
        [2 ** -24, 0x0001], // smallest subnormal
        [2 ** -25, 0x0000], // halfway to 0: ties to even (0)
        [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal steps: ties to even (2)
        [1 + 2 ** -11, 0x3c00], // halfway between 1 and next: ties to even (1)
        [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: ties to even
        [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway rounds up
        [0.1, 0x2e66],
      ] as [number, number][]
    ).map(([value, bits]) => ({ value, bits, hex: `0x${bits.toString(16).padStart(4, '0')}` })),
  )('$value → $hex', ({ value, bits }) => {
    expect(toFloat16Bits(value)).toBe(bits);
  });

  test('NaN stays NaN', () => {
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
  });

  test('every finite half round-trips exactly, and conversion error is at most half a step', () => {
    const broken: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && toFloat16Bits(fromFloat16Bits(h)) !== h) broken.push(h);
    }
    expect(broken).toEqual([]);
    const values = Float32Array.from({ length: 10000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const halves = toFloat16Array(values);
    let worst = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // Relative rounding error of binary16 normals is at most 2^-11.
      if (Math.abs(v) >= 2 ** -14) worst = Math.max(worst, Math.abs(fromFloat16Bits(halves[i]) - v) / Math.abs(v));
    }
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -12);
  });
});

describe('half-precision ONNX graph', () => {
  const g = loadGolden('g_resnet_instance');
  const spec = generatorSpec(g.config.generator!);
  const weights = g.group('state/');
  const fp16 = buildGeneratorOnnx(spec, weights, { fp16: true });
  const fp32 = buildGeneratorOnnx(spec, weights);
  const graph = onnx.ModelProto.toObject(onnx.ModelProto.decode(fp16), { longs: Number }).graph as onnx.IGraphProto;
  const { FLOAT, FLOAT16 } = onnx.TensorProto.DataType;

  test('float32 input and output, Cast at both ends, float16 weights, about half the size', () => {
    expect(graph.input![0].type!.tensorType!.elemType).toBe(FLOAT);
    expect(graph.output![0].type!.tensorType!.elemType).toBe(FLOAT);
    const nodes = graph.node!;
    expect(nodes[0]).toMatchObject({ opType: 'Cast', input: ['input'] });
    expect(nodes[0].attribute).toEqual([expect.objectContaining({ name: 'to', i: FLOAT16 })]);
    expect(nodes[nodes.length - 1]).toMatchObject({ opType: 'Cast', output: ['output'] });
    expect(nodes[nodes.length - 1].attribute).toEqual([expect.objectContaining({ name: 'to', i: FLOAT })]);
    expect(nodes.filter((n) => n.opType === 'Cast')).toHaveLength(2);
    const floats = graph.initializer!.filter((t) => t.dataType !== onnx.TensorProto.DataType.INT64);
    expect(floats.every((t) => t.dataType === FLOAT16)).toBe(true);
    const w = graph.initializer!.find((t) => t.name === 'model.1.weight')!;
    const halves = new Uint16Array(new Uint8Array(w.rawData!).slice().buffer);
    expect(halves).toEqual(toFloat16Array(weights.get('model.1.weight')!.data));
    expect(fp16.length / fp32.length).toBeGreaterThan(0.45);
    expect(fp16.length / fp32.length).toBeLessThan(0.55);
  });

  /** A PyTorch reference: golden generator (`g_*`) or onnx fixture, weights + input + output. */
  function pytorchCase(name: string) {
    if (name.startsWith('g_')) {
      const c = loadGolden(name);
      const [input, out] = [c.tensor('input'), c.tensor('output')];
      return { spec: generatorSpec(c.config.generator!), w: c.group('state/'), input, out };
    }
    const f = loadOnnxFixture(name);
    const [input, out] = [f.tensor('input/nonsquare'), f.tensor('output/nonsquare')];
    return { spec: generatorSpec(f.generator), w: f.state, input, out };
  }
  const cases = [
    'g_resnet_instance',
    'g_resnet_none',
    'g_resnet_gray',
    'g_resnet_nonsquare',
    'g_unet128',
    'resnet_batch_dropout_eval',
    'resnet_tiny',
  ];

  test.each(cases)(
    `%s: within the stated fp16 bound (${FP16_TOLERANCE}) of PyTorch, and really half precision`,
    async (name) => {
      const c = pytorchCase(name);
      const half = await runOnnx(buildGeneratorOnnx(c.spec, c.w, { fp16: true }), c.input.data, c.input.shape);
      const full = await runOnnx(buildGeneratorOnnx(c.spec, c.w), c.input.data, c.input.shape);
      expect(half.type).toBe('float32');
      const d16 = compareOutputs(half.data as Float32Array, c.out.data).max;
      const d32 = compareOutputs(full.data as Float32Array, c.out.data).max;
      expect(d16).toBeLessThanOrEqual(FP16_TOLERANCE);
      // fp16 arithmetic leaves a visible trace far above fp32 round-off; otherwise the graph was not half precision.
      expect(d16).toBeGreaterThan(10 * d32);
      expect(d16).toBeGreaterThan(1e-4);
    },
  );
});
