/**
 * Per-layer timings of core/tf conv2d / convTranspose2d against tfjs's built-in path, on the wasm backend.
 *
 *   npx tsx bench/ops.ts [--reps 5] [--all]
 *
 * Prints one JSON document. For each layer: forward ms, forward+backward ms (gradients w.r.t. input and
 * filter for a fixed cotangent) and backward/forward, as medians over `reps` runs after a warm-up.
 * Built-in: tf.conv2d's own gradient needs Conv2DBackpropFilter, which wasm lacks, so only its dx half
 * (Conv2DBackpropInput) is timed; tf.conv2dTranspose's forward is Conv2DBackpropInput itself.
 * --all adds the remaining ResNet-generator layer shapes at 256×256 (slower).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { initBackend } from '../core/tf/backend';
import { conv2d } from '../core/tf/conv2d';
import { explicitPad } from '../core/tf/convAdjoint';
import { convTranspose2d } from '../core/tf/convTranspose2d';

interface Layer {
  name: string;
  kind: 'conv' | 'convTranspose';
  /** Input NHWC. */
  x: [number, number, number, number];
  k: number;
  stride: number;
  pad: number;
  outputPad?: number;
  outC: number;
}

const BASE: Layer[] = [
  { name: 'conv 3x3 64→64 @64x64', kind: 'conv', x: [1, 64, 64, 64], k: 3, stride: 1, pad: 1, outC: 64 },
  { name: 'conv 3x3 s2 64→128 @128x128', kind: 'conv', x: [1, 128, 128, 64], k: 3, stride: 2, pad: 1, outC: 128 },
  {
    name: 'convTranspose 3x3 s2 128→64 @64x64',
    kind: 'convTranspose',
    x: [1, 64, 64, 128],
    k: 3,
    stride: 2,
    pad: 1,
    outputPad: 1,
    outC: 64,
  },
  {
    name: 'resnet-block conv 3x3 256→256 @64x64',
    kind: 'conv',
    x: [1, 66, 66, 256],
    k: 3,
    stride: 1,
    pad: 0,
    outC: 256,
  },
];

const EXTRA: Layer[] = [
  { name: 'conv 7x7 3→64 @256x256', kind: 'conv', x: [1, 262, 262, 3], k: 7, stride: 1, pad: 0, outC: 64 },
  { name: 'conv 3x3 s2 128→256 @128x128', kind: 'conv', x: [1, 128, 128, 128], k: 3, stride: 2, pad: 1, outC: 256 },
  {
    name: 'convTranspose 3x3 s2 256→128 @64x64',
    kind: 'convTranspose',
    x: [1, 64, 64, 256],
    k: 3,
    stride: 2,
    pad: 1,
    outputPad: 1,
    outC: 128,
  },
  { name: 'conv 7x7 64→3 @256x256', kind: 'conv', x: [1, 262, 262, 64], k: 7, stride: 1, pad: 0, outC: 3 },
  {
    name: 'PatchGAN conv 4x4 s2 128→256 @64x64',
    kind: 'conv',
    x: [1, 64, 64, 128],
    k: 4,
    stride: 2,
    pad: 1,
    outC: 256,
  },
  { name: 'PatchGAN conv 4x4 256→512 @32x32', kind: 'conv', x: [1, 32, 32, 256], k: 4, stride: 1, pad: 1, outC: 512 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time of `fn` (which returns tensors it created), synchronising on the results. */
async function time(fn: () => tf.Tensor[], reps: number): Promise<number> {
  const run = async () => {
    const t0 = performance.now();
    const out = fn();
    await Promise.all(out.map((t) => t.data()));
    const ms = performance.now() - t0;
    tf.dispose(out);
    return ms;
  };
  await run(); // warm-up: XNNPACK operator creation, wasm heap growth
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await run());
  return Math.round(median(times) * 10) / 10;
}

const ratio = (fwd: number, both: number) => Math.round(((both - fwd) / fwd) * 100) / 100;

async function benchLayer(l: Layer, reps: number) {
  const [n, h, w, inC] = l.x;
  const x = tf.randomNormal(l.x) as tf.Tensor4D;
  const op = l.outputPad ?? 0;
  // conv filter [k,k,inC,outC]; conv2dTranspose filter [k,k,outC,inC].
  const wShape: [number, number, number, number] =
    l.kind === 'conv' ? [l.k, l.k, inC, l.outC] : [l.k, l.k, l.outC, inC];
  const wt = tf.mul(tf.randomNormal(wShape), 0.05) as tf.Tensor4D;
  const ours = (a: tf.Tensor4D, b: tf.Tensor4D) =>
    l.kind === 'conv' ? conv2d(a, b, l.stride, l.pad) : convTranspose2d(a, b, l.stride, l.pad, op);
  const y = ours(x, wt);
  const dy = tf.randomNormal(y.shape);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => ours(a as tf.Tensor4D, b as tf.Tensor4D));

  const fwd = await time(() => [ours(x, wt)], reps);
  const fwdBwd = await time(() => grads([x, wt], dy), reps);

  let builtin: Record<string, number | string>;
  if (l.kind === 'conv') {
    const f = (a: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, wt, l.stride, explicitPad(l.pad));
    const bFwd = await time(() => [f(x)], reps);
    const bFwdDx = await time(() => [tf.grad(f)(x, dy)], reps);
    builtin = { fwdMs: bFwd, fwdPlusDxMs: bFwdDx, note: 'dw unavailable on wasm (no Conv2DBackpropFilter kernel)' };
  } else {
    const [ho, wo] = [(h - 1) * l.stride - 2 * l.pad + l.k + op, (w - 1) * l.stride - 2 * l.pad + l.k + op];
    const f = (a: tf.Tensor) => {
      const full = tf.conv2dTranspose(
        a as tf.Tensor4D,
        wt,
        [n, (h - 1) * l.stride + l.k, (w - 1) * l.stride + l.k, l.outC],
        l.stride,
        'valid',
      );
      return tf.slice(full, [0, l.pad, l.pad, 0], [n, ho, wo, l.outC]);
    };
    const bFwd = await time(() => [f(x)], Math.min(reps, 3));
    const bFwdDx = await time(() => [tf.grad(f)(x, dy)], Math.min(reps, 3));
    builtin = { fwdMs: bFwd, fwdPlusDxMs: bFwdDx, note: 'forward is Conv2DBackpropInput; dw unavailable on wasm' };
  }
  tf.dispose([x, wt, y, dy]);
  return {
    layer: l.name,
    output: y.shape.join('x'),
    ours: { fwdMs: fwd, fwdBwdMs: fwdBwd, bwdOverFwd: ratio(fwd, fwdBwd) },
    builtin,
  };
}

runCommand(
  {
    name: 'bench/ops',
    program: 'npx tsx bench/ops.ts',
    summary:
      'Forward and forward+backward times of the convolution layers (ours vs. tfjs built-ins) on wasm; prints JSON.',
    schema: z
      .object({
        reps: field.int(1).default(5).describe('timed repetitions (median reported)'),
        all: field.boolean().default(false).describe('also the extra layers'),
      })
      .strict(),
    exit: 'immediately',
  },
  async (o) => {
    const info = await initBackend('wasm');
    const results = [];
    for (const l of o.all ? [...BASE, ...EXTRA] : BASE) results.push(await benchLayer(l, o.reps));
    console.log(JSON.stringify({ backend: info.name, detail: info.reason, reps: o.reps, layers: results }, null, 2));
  },
);
