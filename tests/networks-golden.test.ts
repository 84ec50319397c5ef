/**
 * The tfjs networks against PyTorch golden fixtures (tools/make_golden.py): outputs, input
 * gradients, every parameter gradient, batch-norm running statistics, and one full CycleGAN
 * iteration (loss terms, G and D gradients, the Adam step). Runs on the wasm backend, i.e. through
 * the fast forward-convolution gradients training uses on CPU.
 *
 * Tolerance: max|tfjs − torch| ≤ 1e-4 · max(1, max|torch|) per tensor (float32 against a float64
 * reference rounded to float32).
 */
import * as tf from '@tensorflow/tfjs';
import { generatorSpec, discriminatorSpec, paramSpecs, type Layer, type NetworkSpec } from '../core/arch/spec';
import { initBackend } from '../core/tf/backend';
import { TfNetwork } from '../train/networks';
import { CycleGanModel, type ModelOptions } from '../train/cycleGanModel';
import { listGoldenCases, loadGolden, type GoldenCase } from './helpers/golden';
import { nchwToNhwc, scaledMaxError } from './helpers/compare';

const TOL = 1e-4;

beforeAll(async () => {
  await initBackend('wasm');
});

/** tfjs-layout tensor → PyTorch-layout values (kernels transposed back). */
function torchLayout(t: tf.Tensor, isKernel: boolean): Float32Array {
  return tf.tidy(() => (isKernel ? tf.transpose(t, [3, 2, 0, 1]) : t).dataSync() as Float32Array);
}

/** Conv biases followed directly by an instance norm (their gradient is mathematically zero). */
function biasesBeforeInstanceNorm(spec: NetworkSpec): Set<string> {
  const out = new Set<string>();
  const walk = (layers: Layer[]) =>
    layers.forEach((l, i) => {
      if ((l.op === 'conv' || l.op === 'convTranspose') && l.bias && layers[i + 1]?.op === 'instanceNorm')
        out.add(`${l.name}.bias`);
      if (l.op === 'residual' || l.op === 'skipConcat') walk(l.body);
    });
  walk(spec.layers);
  return out;
}

function specOf(c: GoldenCase): NetworkSpec {
  if (c.config.kind === 'generator') return generatorSpec(c.config.generator!);
  return discriminatorSpec(c.config.discriminator!);
}

const netCases = listGoldenCases().filter((n) => {
  const k = loadGolden(n).config.kind;
  return k === 'generator' || k === 'discriminator';
});

describe.each(netCases)('golden %s', (caseName) => {
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

  test('output matches PyTorch', () => {
    const ref = nchwToNhwc(c.tensor('output'));
    expect(out.shape).toEqual(ref.shape);
    expect(scaledMaxError(out.dataSync(), ref.data)).toBeLessThanOrEqual(TOL);
  });

  test('gradient w.r.t. the input matches PyTorch', () => {
    expect(scaledMaxError(grads[0].dataSync(), nchwToNhwc(c.tensor('dInput')).data)).toBeLessThanOrEqual(TOL);
  });

  test('every parameter gradient matches PyTorch', () => {
    const zeroGrad = biasesBeforeInstanceNorm(spec);
    const errors = specs.map((p, i) => {
      const isKernel = p.role === 'convWeight' || p.role === 'convTransposeWeight';
      const ours = torchLayout(grads[i + 1], isKernel);
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
  (bnBuffers.length ? test : test.skip)('batch-norm running statistics update like PyTorch', () => {
    for (const p of bnBuffers) {
      expect(
        scaledMaxError(net.params.get(p.key)!.dataSync(), c.tensor(`stateAfter/${p.key}`).data),
      ).toBeLessThanOrEqual(TOL);
    }
  });
});

describe('golden cycle_iteration: one full CycleGAN iteration', () => {
  const c = loadGolden('cycle_iteration');
  const cfg = c.config;
  const g = cfg.generator!;
  const d = cfg.discriminator!;
  const opts: ModelOptions = {
    netG: g.netG,
    netD: d.netD,
    n_layers_D: d.nLayersD,
    ngf: g.ngf,
    ndf: d.ndf,
    norm: g.norm,
    init_type: 'normal',
    init_gain: 0.02,
    input_nc: g.inputNc,
    output_nc: g.outputNc,
    no_dropout: !g.useDropout,
    gan_mode: 'lsgan',
    lambda_A: cfg.lambdaA!,
    lambda_B: cfg.lambdaB!,
    lambda_identity: cfg.lambdaIdentity!,
    lr: cfg.lr!,
    beta1: cfg.beta1!,
  };
  const passthrough = { query: (b: Float32Array) => b };
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

  test('loss terms, images and gradients of G and D match PyTorch', () => {
    const model = new CycleGanModel(opts, { weights }, { A: passthrough, B: passthrough });
    const realA = img('real_A');
    const realB = img('real_B');
    const gr = model.generatorGradients(realA, realB);
    expect(scaledMaxError(gr.fakeB.dataSync(), nchwToNhwc(c.tensor('fake_B')).data)).toBeLessThanOrEqual(TOL);
    expect(scaledMaxError(gr.recB.dataSync(), nchwToNhwc(c.tensor('rec_B')).data)).toBeLessThanOrEqual(TOL);
    const dr = model.discriminatorGradients(realA, realB, gr.fakeA, gr.fakeB);
    const losses = { ...gr.losses, ...dr.losses };
    const names = { G_A: 'loss_G_A', G_B: 'loss_G_B', cycle_A: 'loss_cycle_A', cycle_B: 'loss_cycle_B' } as const;
    for (const [ours, theirs] of Object.entries({
      ...names,
      idt_A: 'loss_idt_A',
      idt_B: 'loss_idt_B',
      D_A: 'loss_D_A',
      D_B: 'loss_D_B',
    })) {
      expect(Math.abs(losses[ours as keyof typeof losses] - c.scalar(theirs))).toBeLessThanOrEqual(
        TOL * Math.max(1, Math.abs(c.scalar(theirs))),
      );
    }
    let worst = { key: '', err: 0 };
    for (const [key, t] of [...gr.grads, ...dr.grads]) {
      const [net, ...rest] = key.split('.');
      const pkey = rest.join('.');
      const isKernel = t.rank === 4;
      const err = scaledMaxError(torchLayout(t, isKernel), c.tensor(`${net}/grad/${pkey}`).data);
      if (err > worst.err) worst = { key, err };
    }
    expect(worst.err).toBeLessThanOrEqual(TOL);
    expect(gr.grads.size + dr.grads.size).toBe(
      ['G_A', 'G_B', 'D_A', 'D_B'].reduce((a, n) => a + c.names().filter((x) => x.startsWith(`${n}/grad/`)).length, 0),
    );
    model.dispose();
  });

  test('one optimize() step reproduces PyTorch Adam on every parameter', () => {
    const model = new CycleGanModel(opts, { weights }, { A: passthrough, B: passthrough });
    model.optimize(img('real_A'), img('real_B'));
    let worst = { key: '', err: 0 };
    for (const net of ['G_A', 'G_B', 'D_A', 'D_B'] as const) {
      const after = c.group(`${net}/adam/`);
      const ours = model.nets[net];
      for (const p of ours.paramSpecs.filter((q) => q.trainable)) {
        const isKernel = p.role === 'convWeight' || p.role === 'convTransposeWeight';
        const value = torchLayout(ours.params.get(p.key)!, isKernel);
        if (biasesBeforeInstanceNorm(ours.spec).has(p.key)) {
          // True gradient exactly 0 (instance norm removes any per-channel shift): PyTorch's float64 step
          // leaves it; ours sees float32 rounding noise, and Adam's first step moves by at most lr.
          const before = weights[net].get(p.key)!.data;
          expect(scaledMaxError(value, before)).toBeLessThanOrEqual(opts.lr * 1.001);
          expect(scaledMaxError(after.get(p.key)!.data, before)).toBeLessThanOrEqual(1e-7);
          continue;
        }
        const err = scaledMaxError(value, after.get(p.key)!.data);
        if (err > worst.err) worst = { key: `${net}.${p.key}`, err };
      }
    }
    expect(worst.err).toBeLessThanOrEqual(TOL);
    model.dispose();
  });
});
