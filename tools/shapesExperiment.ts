/**
 * Proof that training learns: the synthetic shapes task (tools/make_shapes_dataset.ts) has a known
 * true translation for every test image, so PSNR/SSIM of G_A(testA) against testA_truth (and G_B
 * on testB) can be compared with the identity baseline (testA against its truth) as training goes.
 * Used by tests/tools/shapesExperiment.test.ts (short) and bench/learn.ts (longer).
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parseTrainOptions, type TrainOptions } from '../train/trainOptions';
import { generatorSpec, type GeneratorOptions } from '../core/arch/spec';
import type { StateDict } from '../core/arch/stateDict';
import { psnr } from '../core/metrics/psnr';
import { ssim } from '../core/metrics/ssim';
import { makeShapesDataset } from './make_shapes_dataset';
import { decodeRgb } from '../core/image/decode';
import { openTrainData } from '../train/data/trainDataset';
import { Trainer } from '../train/trainer';
import { checkpointNet, loadCheckpoint } from '../train/checkpoint';
import { TfNetwork } from '../train/tfjs/networks';
import { generatorOptions } from '../train/model/cycleGan';

export interface ShapesPoint {
  iter: number;
  seconds: number;
  psnr: { AtoB: number; BtoA: number };
  ssim: { AtoB: number; BtoA: number };
}

export interface ShapesResult {
  baseline: { psnr: { AtoB: number; BtoA: number }; ssim: { AtoB: number; BtoA: number } };
  points: ShapesPoint[];
  options: TrainOptions;
}

export interface ShapesPair {
  input: Float32Array;
  truth: Uint8Array;
  shape: [number, number, number];
}

/** A test set of the shapes task: each input with its true translation. */
export async function loadShapesPairs(dataroot: string, dir: 'testA' | 'testB'): Promise<ShapesPair[]> {
  const files = readdirSync(path.join(dataroot, dir)).sort();
  return Promise.all(
    files.map(async (f) => {
      const img = await decodeRgb(path.join(dataroot, dir, f));
      const truth = await decodeRgb(path.join(dataroot, `${dir}_truth`, f));
      return {
        input: Float32Array.from(img.data, (v) => (v / 255) * 2 - 1),
        truth: truth.data,
        shape: [img.height, img.width, 3] as [number, number, number],
      };
    }),
  );
}

function scores(outputs: Uint8Array[], pairs: ShapesPair[]): { psnr: number; ssim: number } {
  let p = 0;
  let s = 0;
  pairs.forEach((pair, i) => {
    p += Math.min(100, psnr(outputs[i], pair.truth));
    s += ssim(outputs[i], pair.truth, pair.shape[1], pair.shape[0], 3);
  });
  return { psnr: p / pairs.length, ssim: s / pairs.length };
}

function toUint8(x: Float32Array): Uint8Array {
  return Uint8Array.from(x, (v) => Math.max(0, Math.min(255, Math.round(((v + 1) / 2) * 255))));
}

/** Mean PSNR/SSIM of one generator's outputs on `pairs` against their truth (tfjs, eval mode). */
export function scoreGenerator(
  o: GeneratorOptions,
  weights: StateDict,
  pairs: ShapesPair[],
): { psnr: number; ssim: number } {
  const net = new TfNetwork(generatorSpec(o), 'eval', weights);
  try {
    const outs = pairs.map((p) =>
      tf.tidy(() =>
        toUint8(net.apply(tf.tensor4d(p.input, [1, ...p.shape]), { training: false }).dataSync() as Float32Array),
      ),
    );
    return scores(outs, pairs);
  } finally {
    net.dispose();
  }
}

async function evaluate(checkpoint: string, testA: ShapesPair[], testB: ShapesPair[]) {
  const ck = await loadCheckpoint(checkpoint);
  const o = ck.meta.options as unknown as TrainOptions;
  return {
    AtoB: scoreGenerator(generatorOptions(o, 'AtoB'), checkpointNet(ck, 'G_A'), testA),
    BtoA: scoreGenerator(generatorOptions(o, 'BtoA'), checkpointNet(ck, 'G_B'), testB),
  };
}

export async function runShapesExperiment(o: {
  root: string;
  iters: number;
  evalEvery: number;
  train?: Record<string, unknown>;
  dataset?: { size: number; n: number; n_test: number; seed: number };
  log?: (m: string) => void;
}): Promise<ShapesResult> {
  const ds = o.dataset ?? { size: 36, n: 200, n_test: 16, seed: 1 };
  const dataroot = path.join(o.root, 'shapes');
  await makeShapesDataset({ out: dataroot, ...ds, force: true });
  const testA = await loadShapesPairs(dataroot, 'testA');
  const testB = await loadShapesPairs(dataroot, 'testB');
  const identity = (pairs: ShapesPair[]) =>
    scores(
      pairs.map((p) => toUint8(p.input)),
      pairs,
    );
  const ia = identity(testA);
  const ib = identity(testB);
  const baseline = { psnr: { AtoB: ia.psnr, BtoA: ib.psnr }, ssim: { AtoB: ia.ssim, BtoA: ib.ssim } };
  const points: ShapesPoint[] = [];
  let options: TrainOptions | undefined;
  let seconds = 0;
  for (let it = o.evalEvery; it <= o.iters; it += o.evalEvery) {
    options = parseTrainOptions({
      dataroot,
      name: 'shapes',
      checkpoints_dir: path.join(o.root, 'ck'),
      load_size: ds.size,
      crop_size: 32,
      print_freq: 1e9,
      display_freq: 1e9,
      save_latest_freq: 1e9,
      seed: 1,
      max_iters: it,
      continue_train: it > o.evalEvery,
      ...o.train,
    });
    const t0 = performance.now();
    await new Trainer(options, await openTrainData(options, () => undefined), { log: () => undefined }).run();
    seconds += (performance.now() - t0) / 1000;
    const m = await evaluate(path.join(o.root, 'ck', 'shapes', 'latest.ckpt'), testA, testB);
    const point = {
      iter: it,
      seconds: +seconds.toFixed(1),
      psnr: { AtoB: m.AtoB.psnr, BtoA: m.BtoA.psnr },
      ssim: { AtoB: m.AtoB.ssim, BtoA: m.BtoA.ssim },
    };
    points.push(point);
    o.log?.(JSON.stringify(point));
  }
  return { baseline, points, options: options! };
}
