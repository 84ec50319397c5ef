/**
 * The tfjs networks against PyTorch golden fixtures (tools/make_golden.py): outputs, input
 * gradients, every parameter gradient, batch-norm running statistics, and one full CycleGAN
 * iteration (loss terms, G and D gradients, the Adam step), also split over two worker threads as
 * parallel training does. Runs on the wasm backend, i.e. through the fast forward-convolution
 * gradients training uses on CPU, and again on WebGPU when an adapter exists (tests/helpers/backends).
 *
 * Tolerance: max|tfjs − torch| ≤ 1e-4 · max(1, max|torch|) per tensor (float32 against a float64
 * reference rounded to float32).
 */
import * as tf from '@tensorflow/tfjs';
import { generatorSpec, discriminatorSpec, paramSpecs, type NetworkSpec } from '../../../core/arch/spec';
import { initBackend } from '../../../core/tf/backend';
import { TfNetwork } from '../../../train/tfjs/networks';
import { CycleGanModel } from '../../../train/tfjs/cycleGanModel';
import { type NetName } from '../../../train/model/cycleGan';
import { poolStreams } from '../../../train/model/modelState';
import { ParallelTrainingModel, tfjsSides } from '../../../train/parallel/parallelTrainingModel';
import { cycleOptions, listGoldenCases, loadGolden, type GoldenCase } from '../../helpers/golden';
import { nchwToNhwc, scaledMaxError } from '../../helpers/compare';
import { biasesBeforeInstanceNorm } from '../../helpers/zeroGradients';
import { describeOnWebGpu } from '../../helpers/backends';

const TOL = 1e-4;

beforeAll(async () => {
  await initBackend('wasm');
});

/** The values of `t`, read as the trainer reads them (WebGPU in Node has no synchronous read). */
async function values(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

/** tfjs-layout tensor → PyTorch-layout values (kernels transposed back). */
async function torchLayout(t: tf.Tensor, isKernel: boolean): Promise<Float32Array> {
  if (!isKernel) return values(t);
  const u = tf.transpose(t, [3, 2, 0, 1]);
  try {
    return await values(u);
  } finally {
    u.dispose();
  }
}

function specOf(c: GoldenCase): NetworkSpec {
  if (c.config.kind === 'generator') return generatorSpec(c.config.generator!);
  return discriminatorSpec(c.config.discriminator!);
}

const netCases = listGoldenCases().filter((n) => {
  const k = loadGolden(n).config.kind;
  return k === 'generator' || k === 'discriminator';
});

/** One network fixture: output, input gradient, parameter gradients, batch-norm statistics. */
function netCaseTests(caseName: string) {
  const c = loadGolden(caseName);
  const spec = specOf(c);
  const specs = paramSpecs(spec).filter((p) => p.trainable);
  let net: TfNetwork;
  let out: tf.Tensor4D;
  let grads: tf.Tensor[];
  beforeAll(() => {
    net = new TfNetwork(spec, caseName, c.group('state/'));
    const input = nchwToNhwc(c.tensor('input'));
    const R = nchwToNhwc(c.tensor('R'));
    const x = tf.tensor4d(input.data, input.shape);
    const r = tf.tensor4d(R.data, R.shape);
    const vars = specs.map((p) => net.params.get(p.key)!);
    const f = (xi: tf.Tensor, ...ws: tf.Tensor[]) => {
      void ws; // the variables are read through the network; listing them makes tfjs differentiate them
      out = tf.keep(net.apply(xi as tf.Tensor4D, { training: true }));
      return tf.sum(tf.mul(out, r));
    };
    grads = tf.grads(f)([x, ...vars]);
  });

  test('output matches PyTorch', async () => {
    const ref = nchwToNhwc(c.tensor('output'));
    expect(out.shape).toEqual(ref.shape);
    expect(scaledMaxError(await values(out), ref.data)).toBeLessThanOrEqual(TOL);
  });

  test('gradient w.r.t. the input matches PyTorch', async () => {
    expect(scaledMaxError(await values(grads[0]), nchwToNhwc(c.tensor('dInput')).data)).toBeLessThanOrEqual(TOL);
  });

  test('every parameter gradient matches PyTorch', async () => {
    const zeroGrad = biasesBeforeInstanceNorm(spec);
    const layouts = await Promise.all(
      specs.map((p, i) => torchLayout(grads[i + 1], p.role === 'convWeight' || p.role === 'convTransposeWeight')),
    );
    const errors = specs.map((p, i) => {
      const ours = layouts[i];
      const ref = c.tensor(`grad/${p.key}`).data;
      if (zeroGrad.has(p.key)) {
        // Mathematically zero (instance norm removes the shift): both sides are rounding noise of the
        // same layer's output gradient, so measure against the scale of that layer's weight gradient.
        const weightGrad = c.tensor(`grad/${p.key.replace(/\.bias$/, '.weight')}`).data;
        const scale = Math.max(1, ...Array.from(weightGrad, Math.abs));
        return [p.key, Math.max(...Array.from(ours, (v, j) => Math.abs(v - ref[j]))) / scale] as const;
      }
      return [p.key, scaledMaxError(ours, ref)] as const;
    });
    const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
    expect({ key: worst[0], ok: worst[1] <= TOL, err: worst[1] }).toEqual({ key: worst[0], ok: true, err: worst[1] });
  });

  const bnBuffers = paramSpecs(spec).filter((p) => p.role === 'bnMean' || p.role === 'bnVar');
  (bnBuffers.length ? test : test.skip)('batch-norm running statistics update like PyTorch', async () => {
    for (const p of bnBuffers) {
      expect(
        scaledMaxError(await values(net.params.get(p.key)!), c.tensor(`stateAfter/${p.key}`).data),
      ).toBeLessThanOrEqual(TOL);
    }
  });
}

describe.each(netCases)('golden %s', netCaseTests);

/** The cycle_iteration fixture; the two-worker variant only where workers are used (not on webgpu). */
function cycleIterationTests(backend: 'wasm' | 'webgpu') {
  const c = loadGolden('cycle_iteration');
  const cfg = c.config;
  const g = cfg.generator!;
  const d = cfg.discriminator!;
  const opts = cycleOptions(c);
  const passthrough = {
    query: (data: Float32Array, shape: [number, number, number, number]) => ({ data, shape }),
    passThrough: true,
  };
  const weights = {
    G_A: c.group('G_A/state/'),
    G_B: c.group('G_B/state/'),
    D_A: c.group('D_A/state/'),
    D_B: c.group('D_B/state/'),
  };
  const img = (name: string) => {
    const t = nchwToNhwc(c.tensor(name));
    return tf.tensor4d(t.data, t.shape);
  };

  const LOSS_KEYS = {
    G_A: 'loss_G_A',
    G_B: 'loss_G_B',
    cycle_A: 'loss_cycle_A',
    cycle_B: 'loss_cycle_B',
    idt_A: 'loss_idt_A',
    idt_B: 'loss_idt_B',
    D_A: 'loss_D_A',
    D_B: 'loss_D_B',
  } as const;

  function expectLosses(losses: Partial<Record<keyof typeof LOSS_KEYS, number>>) {
    for (const [ours, theirs] of Object.entries(LOSS_KEYS)) {
      const err = Math.abs(losses[ours as keyof typeof LOSS_KEYS]! - c.scalar(theirs));
      const ok = err <= TOL * Math.max(1, Math.abs(c.scalar(theirs)));
      expect({ loss: ours, ok, err }).toEqual({ loss: ours, ok: true, err });
    }
  }

  /** Worst scaled error of gradients keyed `NET.key` (PyTorch layout) against the fixture's `NET/grad/key`. */
  function worstGradientError(grads: Iterable<[string, Float32Array]>) {
    let worst = { key: '', err: 0 };
    let n = 0;
    for (const [key, torchValues] of grads) {
      const [net, ...rest] = key.split('.');
      const err = scaledMaxError(torchValues, c.tensor(`${net}/grad/${rest.join('.')}`).data);
      if (err > worst.err) worst = { key, err };
      n++;
    }
    return { ...worst, n };
  }

  const gradCount = (nets: string[]) =>
    nets.reduce((a, n) => a + c.names().filter((x) => x.startsWith(`${n}/grad/`)).length, 0);

  /** Every trainable parameter after one Adam step (`value(net, key)`: PyTorch layout) against the fixture. */
  async function expectAfterAdam(value: (net: NetName, key: string) => Float32Array | Promise<Float32Array>) {
    let worst = { key: '', err: 0 };
    for (const net of ['G_A', 'G_B', 'D_A', 'D_B'] as const) {
      const after = c.group(`${net}/adam/`);
      const spec = net.startsWith('G') ? generatorSpec(g) : discriminatorSpec(d);
      for (const p of paramSpecs(spec).filter((q) => q.trainable)) {
        const ours = await value(net, p.key);
        if (biasesBeforeInstanceNorm(spec).has(p.key)) {
          // True gradient exactly 0 (instance norm removes any per-channel shift): PyTorch's float64 step
          // leaves it; ours sees float32 rounding noise, and Adam's first step moves by at most lr.
          const before = weights[net].get(p.key)!.data;
          expect(scaledMaxError(ours, before)).toBeLessThanOrEqual(opts.lr * 1.001);
          expect(scaledMaxError(after.get(p.key)!.data, before)).toBeLessThanOrEqual(1e-7);
          continue;
        }
        const err = scaledMaxError(ours, after.get(p.key)!.data);
        if (err > worst.err) worst = { key: `${net}.${p.key}`, err };
      }
    }
    expect(worst.err).toBeLessThanOrEqual(TOL);
  }

  test('loss terms, images and gradients of G and D match PyTorch', async () => {
    const model = new CycleGanModel(opts, { weights }, { A: passthrough, B: passthrough });
    const realA = img('real_A');
    const realB = img('real_B');
    const gr = await model.generatorGradients(realA, realB);
    expect(scaledMaxError(await values(gr.images.fake_B!), nchwToNhwc(c.tensor('fake_B')).data)).toBeLessThanOrEqual(
      TOL,
    );
    expect(scaledMaxError(await values(gr.images.rec_B!), nchwToNhwc(c.tensor('rec_B')).data)).toBeLessThanOrEqual(TOL);
    const dr = await model.discriminatorGradients(realA, realB, gr.images);
    expectLosses({ ...gr.losses, ...dr.losses });
    const torchGrads = await Promise.all(
      [...gr.grads, ...dr.grads].map(
        async ([k, t]) => [k, await torchLayout(t, t.rank === 4)] as [string, Float32Array],
      ),
    );
    const worst = worstGradientError(torchGrads);
    expect(worst.err).toBeLessThanOrEqual(TOL);
    expect(worst.n).toBe(gradCount(['G_A', 'G_B', 'D_A', 'D_B']));
    model.dispose();
  });

  test('one optimize() step reproduces PyTorch Adam on every parameter', async () => {
    const model = new CycleGanModel(opts, { weights }, { A: passthrough, B: passthrough });
    await model.optimize(img('real_A'), img('real_B'));
    await expectAfterAdam((net, key) => {
      const v = model.net(net).params.get(key)!;
      return torchLayout(v, v.rank === 4);
    });
    model.dispose();
  });

  (backend === 'wasm' ? test.each : test.skip.each)([
    ['tfjs', tfjsSides('wasm')],
    ['onnxruntime', { engine: 'onnxruntime', threads: 1 } as const],
  ])(
    'the same iteration on two worker threads (%s): losses, summed G gradient, images and Adam step',
    async (_engine, engine) => {
      const empty = { images: [] };
      const state = {
        nets: weights,
        pools: { A: empty, B: empty },
        poolRng: poolStreams(1),
        dropoutCounter: 1,
        lr: opts.lr,
      };
      const model = await ParallelTrainingModel.open({ ...opts, pool_size: 0 }, state, engine);
      try {
        const a = nchwToNhwc(c.tensor('real_A'));
        const b = nchwToNhwc(c.tensor('real_B'));
        expectLosses(await model.optimize(a.data, a.shape, b.data, b.shape));
        // On tfjs, kernel gradients are in tfjs layout [k,k,in,out] (conv) / [k,k,out,in] (transposed
        // conv); onnxruntime's are in state_dict layout already.
        const torchGrads = await Promise.all(
          [...model.generatorGradientSum()].map(async ([key, sum]) => {
            if (engine.engine === 'onnxruntime') return [key, sum] as [string, Float32Array];
            const shape = c.tensor(`${key.replace('.', '/grad/')}`).shape;
            const t = tf.tensor(sum, shape.length === 4 ? [2, 3, 1, 0].map((i) => shape[i]) : shape);
            const out = await torchLayout(t, t.rank === 4);
            t.dispose();
            return [key, out] as [string, Float32Array];
          }),
        );
        const worst = worstGradientError(torchGrads);
        expect(worst.err).toBeLessThanOrEqual(TOL);
        expect(worst.n).toBe(gradCount(['G_A', 'G_B']));
        const v = (await model.visuals())!;
        for (const name of ['fake_B', 'rec_A', 'fake_A', 'rec_B'] as const) {
          expect([name, scaledMaxError(v[name].data, nchwToNhwc(c.tensor(name)).data) <= TOL]).toEqual([name, true]);
        }
        const after = await model.exportState();
        await expectAfterAdam((net, key) => after.nets[net].get(key)!.data);
      } finally {
        await model.dispose();
      }
    },
  );
}

describe('golden cycle_iteration: one full CycleGAN iteration', () => cycleIterationTests('wasm'));

describeOnWebGpu('on webgpu', () => {
  describe.each(netCases)('golden %s', netCaseTests);
  describe('golden cycle_iteration: one full CycleGAN iteration', () => cycleIterationTests('webgpu'));
});
