/**
 * Parallel training (two worker threads, one side of the loss each) is the single-thread model's
 * math: with the same seed, K iterations on 2 workers and on 1 give the same weights, optimiser
 * moments, pools and random-stream states. Not just within float tolerance: the single-thread model
 * differentiates each side on its own tape and adds the two gradients, as the workers do, so the
 * two runs agree bit for bit. (Exactness matters: parameters with a mathematically zero gradient,
 * conv biases before an instance norm, follow float noise through Adam's normalisation, and a
 * different summation order alone made tiny runs drift apart by 2 % within six iterations.)
 */
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseTrainOptions, type TrainOptions } from '../../../train/trainOptions';
import { initBackend } from '../../../core/tf/backend';
import { readTensorFile } from '../../../core/io/tensorFile';
import { makeShapesDataset } from '../../../tools/make_shapes_dataset';
import { resolveWorkers } from '../../../train/engines';
import { scaledMaxError } from '../../helpers/compare';
import { TINY_NETWORKS, trainQuietly } from '../../helpers/tinyTraining';
import { sameBits } from '../../helpers/modelStates';

const root = mkdtempSync(path.join(tmpdir(), 'parallel-'));
const dataroot = path.join(root, 'data');
const K = 6;

function options(name: string, extra: Record<string, unknown>): TrainOptions {
  return parseTrainOptions({
    dataroot,
    name,
    checkpoints_dir: path.join(root, 'ck'),
    ...TINY_NETWORKS,
    n_epochs: 1,
    n_epochs_decay: 2,
    pool_size: 2,
    save_epoch_freq: 1,
    print_freq: 1,
    display_freq: 1000,
    seed: 11,
    backend: 'wasm',
    engine: 'tfjs',
    max_iters: K,
    ...extra,
  });
}

async function train(o: TrainOptions): Promise<string[]> {
  const lines: string[] = [];
  await trainQuietly(o, (m) => lines.push(m));
  return lines;
}

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 36, n: 5, n_test: 1, seed: 4, force: false });
});

test('the default is 2 workers on wasm/cpu with 2+ cores, 1 with batch norm or on tensorflow', () => {
  const lines: string[] = [];
  const log = (m: string) => lines.push(m);
  expect(resolveWorkers({ norm: 'instance' }, 'wasm', log)).toBe(availableParallelism() >= 2 ? 2 : 1);
  expect(resolveWorkers({ workers: 'auto', norm: 'instance' }, 'wasm', log)).toBe(availableParallelism() >= 2 ? 2 : 1);
  expect(resolveWorkers({ workers: 'auto', norm: 'instance' }, 'tensorflow', log)).toBe(1);
  expect(resolveWorkers({ workers: 1, norm: 'instance' }, 'wasm', log)).toBe(1);
  expect(resolveWorkers({ workers: 2, norm: 'instance' }, 'cpu', log)).toBe(2);
  expect(resolveWorkers({ workers: 2, norm: 'instance' }, 'tensorflow', log)).toBe(1);
  expect(resolveWorkers({ norm: 'instance' }, 'tensorflow', log)).toBe(1);
  expect(resolveWorkers({ workers: 2, norm: 'batch' }, 'wasm', log)).toBe(1);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(/^1 worker thread: with --norm batch/);
});

describe.each([
  ['instance norm, identity loss, lsgan', {}],
  [
    'dropout, vanilla GAN, no identity loss, batch 2',
    { no_dropout: false, gan_mode: 'vanilla', lambda_identity: 0, batch_size: 2 },
  ],
])('%s', (label, extra) => {
  const tag = label.replace(/\W+/g, '_');
  test(`${K} iterations on 2 workers equal ${K} on 1`, async () => {
    const one = options(`one_${tag}`, { ...extra, workers: 1 });
    const two = options(`two_${tag}`, { ...extra, workers: 2 });
    expect((await train(one)).join('\n')).toContain('tfjs engine (wasm), 1 worker thread');
    expect((await train(two)).join('\n')).toMatch(/tfjs engine \(wasm\), 2 worker threads/);

    const a = await readTensorFile(path.join(root, 'ck', one.name, 'latest.ckpt'));
    const b = await readTensorFile(path.join(root, 'ck', two.name, 'latest.ckpt'));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    expect([...a.tensors.keys()].filter((k) => k.startsWith('pool.')).length).toBe(4);
    const differing = [...a.tensors].filter(([key, t]) => !sameBits(t.data, b.tensors.get(key)!.data)).map(([k]) => k);
    expect(differing).toEqual([]);
    // Training moved the weights: the comparison is not between two untouched initialisations.
    const first = await readTensorFile(path.join(root, 'ck', one.name, '1.ckpt'));
    expect(
      scaledMaxError(a.tensors.get('net.G_A.model.1.weight')!.data, first.tensors.get('net.G_A.model.1.weight')!.data),
    ).toBeGreaterThan(0);

    type Meta = { lr: number; rng: number[]; optimizers: unknown; extra: Record<string, unknown> };
    const ma = a.meta as Meta;
    const mb = b.meta as Meta;
    expect(mb.lr).toBe(ma.lr);
    expect(mb.rng).toEqual(ma.rng);
    expect(mb.optimizers).toEqual(ma.optimizers);
    expect(mb.extra.poolRng).toEqual(ma.extra.poolRng);
    expect(mb.extra.dropoutCounter).toBe(ma.extra.dropoutCounter);
  });
});
