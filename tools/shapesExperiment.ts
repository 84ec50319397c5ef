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
import { generatorSpec } from '../core/arch/spec';
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

interface Pair {
  input: Float32Array;
  truth: Uint8Array;
  shape: [number, number, number];
}

async function loadPairs(dataroot: string, dir: 'testA' | 'testB'): Promise<Pair[]> {
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

function scores(outputs: Uint8Array[], pairs: Pair[]): { psnr: number; ssim: number } {
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

async function evaluate(checkpoint: string, testA: Pair[], testB: Pair[]) {
  const ck = await loadCheckpoint(checkpoint);
  const o = ck.meta.options as unknown as TrainOptions;
  const run = (dir: 'AtoB' | 'BtoA', pairs: Pair[]) => {
    const net = new TfNetwork(
      generatorSpec(generatorOptions(o, dir)),
      'eval',
      checkpointNet(ck, dir === 'AtoB' ? 'G_A' : 'G_B'),
    );
    const outs = pairs.map((p) =>
      tf.tidy(() =>
        toUint8(net.apply(tf.tensor4d(p.input, [1, ...p.shape]), { training: false }).dataSync() as Float32Array),
      ),
    );
    net.dispose();
    return scores(outs, pairs);
  };
  return { AtoB: run('AtoB', testA), BtoA: run('BtoA', testB) };
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
  const testA = await loadPairs(dataroot, 'testA');
  const testB = await loadPairs(dataroot, 'testB');
  const identity = (pairs: Pair[]) =>
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
