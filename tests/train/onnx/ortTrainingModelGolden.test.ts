/**
 * The onnxruntime training engine (train/onnx) against the PyTorch golden fixtures
 * (tools/make_golden.py): every network fixture it supports (output, input gradient and every
 * parameter gradient of sum(output · R), through the same backward emitters the step graphs use),
 * and one full CycleGAN iteration (the eight loss terms, the images and the Adam step of all four
 * networks). Same tolerance as the tfjs engine's golden tests: max|ours − torch| ≤ 1e-4 ·
 * max(1, max|torch|) per tensor.
 */
import { createSession, type OrtValues, float32Tensor, type OrtTensor } from '../../../core/onnx/ortRuntime';
import { discriminatorSpec, generatorSpec, paramSpecs, type NetworkSpec } from '../../../core/arch/spec';
import { GraphBuilder } from '../../../train/onnx/graphBuilder';
import { applyNetwork } from '../../../train/onnx/networkGradients';
import { OrtTrainingModel } from '../../../train/onnx/ortTrainingModel';
import { poolStreams } from '../../../train/model/modelState';
import type { NetName } from '../../../train/model/cycleGan';
import { cycleOptions, listGoldenCases, loadGolden, type GoldenCase } from '../../helpers/golden';
import { nchwToNhwc, scaledMaxError } from '../../helpers/compare';
import { biasesBeforeInstanceNorm } from '../../helpers/zeroGradients';

const TOL = 1e-4;

function specOf(c: GoldenCase): NetworkSpec {
  if (c.config.kind === 'generator') return generatorSpec(c.config.generator!);
  return discriminatorSpec(c.config.discriminator!);
}

const netCases = listGoldenCases().filter((n) => {
  const c = loadGolden(n);
  return c.config.kind === 'generator' || c.config.kind === 'discriminator';
});

test('the engine covers every golden network, batch norm included', () => {
  expect(netCases).toEqual(
    expect.arrayContaining([
      'g_resnet_instance',
      'g_resnet_none',
      'g_resnet_batch',
      'g_unet128',
      'd_basic',
      'd_pixel_instance',
      'd_pixel_batch',
      'd_nlayers2_batch',
    ]),
  );
});

describe.each(netCases)('golden %s on the onnxruntime engine', (caseName) => {
  const c = loadGolden(caseName);
  const spec = specOf(c);
  const trainable = paramSpecs(spec).filter((p) => p.trainable);
  let out: OrtValues;

  beforeAll(async () => {
    // sum(output · R): the output gradient is R itself.
    const b = new GraphBuilder();
    const x = b.input('input', c.tensor('input').shape);
    const params = new Map(paramSpecs(spec).map((p) => [p.key, b.input(`p/${p.key}`, p.shape)]));
    const grads = new Map<string, string[]>();
    const buffers = new Map<string, string>();
    const net = applyNetwork(
      b,
      spec,
      x,
      {
        param: (key) => buffers.get(key) ?? params.get(key)!,
        addGrad: (key, g) => grads.set(key, [...(grads.get(key) ?? []), g]),
        setBuffer: (key, t) => buffers.set(key, t),
      },
      'net',
    );
    b.output(net.y, 'output');
    for (const [key, t] of buffers) b.output(t, `stateAfter/${key}`);
    const r = b.input('R', c.tensor('output').shape);
    b.output(net.back(r, true)!, 'dInput');
    for (const p of trainable) b.output(b.sum(grads.get(p.key)!, 'grad'), `grad/${p.key}`);
    const session = await createSession(b.build(caseName), { intraOpNumThreads: 2 });
    const feeds: Record<string, OrtTensor> = {};
    for (const name of ['input', 'R']) {
      const t = c.tensor(name === 'R' ? 'R' : 'input');
      feeds[name] = float32Tensor(t.data, t.shape);
    }
    const state = c.group('state/');
    for (const p of paramSpecs(spec)) feeds[`p/${p.key}`] = float32Tensor(state.get(p.key)!.data, p.shape);
    out = await session.run(feeds);
    await session.release();
  });

  test('output and input gradient match PyTorch', () => {
    expect(out.output.dims).toEqual(c.tensor('output').shape);
    expect(scaledMaxError(out.output.data as Float32Array, c.tensor('output').data)).toBeLessThanOrEqual(TOL);
    expect(scaledMaxError(out.dInput.data as Float32Array, c.tensor('dInput').data)).toBeLessThanOrEqual(TOL);
  });

  test('every parameter gradient matches PyTorch', () => {
    const zeroGrad = biasesBeforeInstanceNorm(spec);
    let worst = { key: '', err: 0 };
    for (const p of trainable) {
      const ours = out[`grad/${p.key}`].data as Float32Array;
      const ref = c.tensor(`grad/${p.key}`).data;
      let err: number;
      if (zeroGrad.has(p.key)) {
        // Mathematically zero: rounding noise on both sides, measured against the weight gradient's scale.
        const wg = c.tensor(`grad/${p.key.replace(/\.bias$/, '.weight')}`).data;
        err = Math.max(...Array.from(ours, (v, j) => Math.abs(v - ref[j]))) / Math.max(1, ...Array.from(wg, Math.abs));
      } else err = scaledMaxError(ours, ref);
      if (err > worst.err) worst = { key: p.key, err };
    }
    expect(worst.err).toBeLessThanOrEqual(TOL);
  });

  // Batch norm's running statistics (the fixtures' num_batches_tracked is not a buffer here).
  const buffers = paramSpecs(spec)
    .filter((p) => !p.trainable)
    .map((p) => `stateAfter/${p.key}`);
  if (buffers.length > 0)
    test('batch norm running statistics after the forward match PyTorch', () => {
      let worst = { name: '', err: 0 };
      for (const name of buffers) {
        const err = scaledMaxError(out[name].data as Float32Array, c.tensor(name).data);
        if (err >= worst.err) worst = { name, err };
      }
      expect(worst.err).toBeLessThanOrEqual(TOL);
    });
});

describe('golden cycle_iteration on the onnxruntime engine', () => {
  const c = loadGolden('cycle_iteration');
  const cfg = c.config;
  const g = cfg.generator!;
  const d = cfg.discriminator!;
  const opts = cycleOptions(c);
  const weights = {
    G_A: c.group('G_A/state/'),
    G_B: c.group('G_B/state/'),
    D_A: c.group('D_A/state/'),
    D_B: c.group('D_B/state/'),
  };

  test('losses, images and one Adam step of all four networks match PyTorch', async () => {
    const empty = { images: [] };
    const model = await OrtTrainingModel.open(
      opts,
      { nets: weights, pools: { A: empty, B: empty }, poolRng: poolStreams(1), dropoutCounter: 1, lr: opts.lr },
      2,
    );
    try {
      const a = nchwToNhwc(c.tensor('real_A'));
      const b = nchwToNhwc(c.tensor('real_B'));
      const losses = await model.optimize(a.data, a.shape, b.data, b.shape);
      for (const [ours, value] of Object.entries(losses)) {
        const ref = c.scalar(`loss_${ours}`);
        const err = Math.abs(value - ref) / Math.max(1, Math.abs(ref));
        expect({ loss: ours, ok: err <= TOL, err }).toEqual({ loss: ours, ok: true, err });
      }
      const v = (await model.visuals())!;
      for (const name of ['fake_B', 'rec_A', 'fake_A', 'rec_B'] as const)
        expect([name, scaledMaxError(v[name].data, nchwToNhwc(c.tensor(name)).data) <= TOL]).toEqual([name, true]);
      const after = await model.exportState();
      let worst = { key: '', err: 0 };
      let checked = 0;
      for (const net of ['G_A', 'G_B', 'D_A', 'D_B'] as NetName[]) {
        const spec = net.startsWith('G') ? generatorSpec(g) : discriminatorSpec(d);
        const ref = c.group(`${net}/adam/`);
        for (const p of paramSpecs(spec).filter((q) => q.trainable)) {
          const ours = after.nets[net].get(p.key)!.data;
          if (biasesBeforeInstanceNorm(spec).has(p.key)) {
            // Zero true gradient: float32 noise moves Adam's first step by at most lr.
            expect(scaledMaxError(ours, weights[net].get(p.key)!.data)).toBeLessThanOrEqual(opts.lr * 1.001);
            continue;
          }
          const err = scaledMaxError(ours, ref.get(p.key)!.data);
          if (err > worst.err) worst = { key: `${net}.${p.key}`, err };
          checked++;
        }
      }
      expect(worst.err).toBeLessThanOrEqual(TOL);
      expect(checked).toBeGreaterThan(20);
      expect(after.adam!.G.step).toBe(1);
      expect(after.adam!.D.step).toBe(1);
    } finally {
      await model.dispose();
    }
  });
});
