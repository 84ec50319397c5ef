/**
 * Where one CycleGAN iteration's time goes on the tfjs engine, by kernel, on the wasm backend and
 * this thread (`--workers 1`: the two-worker split runs the same kernels, half on each worker);
 * for the onnxruntime engine see bench/ortProfile.ts.
 *
 *   npx tsx bench/profile.ts [--size 64|128] [--top 15]
 *
 * Prints JSON: the iteration's wall time, the time inside kernels by group (convolutions: forward
 * and input-gradient Conv2D; filter gradients: BatchMatMul; data movement; elementwise and
 * reductions), the rest (JS: tape, op dispatch, tidy) and the costliest kernel shapes. Composite
 * kernels (core/tf/convKernels.ts, tf.customGrad scopes) are left out of the sums: the kernels they
 * run are profiled themselves.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { initBackend } from '../core/tf/backend';
import { Rng } from '../core/rng';
import { initialModelState, type TrainingModelOptions } from '../train/model/modelState';
import { openTrainingModel } from '../train/engines';
import { CONFIGS, configSizeField } from './networks';

const COMPOSITE = new Set(['CycleGanConv2D', 'CycleGanConvTranspose2D', 'forward']);
const GROUPS: Record<string, string[]> = {
  conv: ['Conv2D'],
  filter_grad_matmul: ['BatchMatMul', '_FusedMatMul'],
  data_movement: [
    'Slice',
    'PadV2',
    'Transpose',
    'Concat',
    'Pack',
    'SplitV',
    'MirrorPad',
    'Identity',
    'Reshape',
    'Reverse',
  ],
};

async function profile(o: { size: '64' | '128' | '256'; top: number }) {
  const c = CONFIGS.find((x) => x.size === Number(o.size))!;
  await initBackend('wasm');
  const opts: TrainingModelOptions = {
    ...{ netG: `resnet_${c.nBlocks}blocks`, netD: 'basic', n_layers_D: 3, ngf: c.ngf, ndf: c.ndf },
    ...{ norm: 'instance', init_type: 'normal', init_gain: 0.02, input_nc: 3, output_nc: 3, no_dropout: true },
    ...{ gan_mode: 'lsgan', lambda_A: 10, lambda_B: 10, lambda_identity: 0.5, lr: 2e-4, beta1: 0.5, pool_size: 50 },
  };
  const model = await openTrainingModel(opts, initialModelState(opts, new Rng(2), 2), {
    engine: 'tfjs',
    backend: 'wasm',
    workers: 1,
  });
  const rng = new Rng(3);
  const image = () => Float32Array.from({ length: c.size * c.size * 3 }, () => 2 * rng.next() - 1);
  const shape: [number, number, number, number] = [1, c.size, c.size, 3];
  for (let i = 0; i < 2; i++) await model.optimize(image(), shape, image(), shape); // warm-up
  const [a, b] = [image(), image()];
  const t0 = performance.now();
  const p = await tf.profile(async () => {
    await model.optimize(a, shape, b, shape);
  });
  const wallMs = performance.now() - t0;
  await model.dispose();
  const kernels = p.kernels.filter((k) => !COMPOSITE.has(k.name));
  const ms = (k: (typeof kernels)[number]) => k.kernelTimeMs as number;
  const inKernels = kernels.reduce((s, k) => s + ms(k), 0);
  const groups: Record<string, number> = {};
  for (const k of kernels) {
    const g = Object.entries(GROUPS).find(([, names]) => names.includes(k.name))?.[0] ?? 'elementwise_reductions';
    groups[g] = (groups[g] ?? 0) + ms(k);
  }
  const byShape = new Map<string, { ms: number; calls: number }>();
  for (const k of kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const e = byShape.get(key) ?? { ms: 0, calls: 0 };
    e.ms += ms(k);
    e.calls++;
    byShape.set(key, e);
  }
  const share = (x: number) => +(x / wallMs).toFixed(3);
  console.log(
    JSON.stringify(
      {
        size: c.size,
        ngf: c.ngf,
        n_blocks: c.nBlocks,
        iteration_ms_profiled: +wallMs.toFixed(0),
        kernels: kernels.length,
        share: {
          ...Object.fromEntries(Object.entries(groups).map(([g, v]) => [g, share(v)])),
          outside_kernels: share(wallMs - inKernels),
        },
        top: [...byShape]
          .sort((x, y) => y[1].ms - x[1].ms)
          .slice(0, o.top)
          .map(([k, v]) => ({ kernel: k, ms: +v.ms.toFixed(1), calls: v.calls })),
      },
      null,
      2,
    ),
  );
}

runCommand(
  {
    name: 'bench/profile',
    program: 'npx tsx bench/profile.ts',
    summary: "Where one CycleGAN iteration's time goes, by tfjs kernel (wasm, this thread); prints JSON.",
    schema: z
      .object({
        size: configSizeField(),
        top: field.int(1).default(15).describe('kernel shapes to list'),
      })
      .strict(),
    exit: 'immediately',
  },
  profile,
);
