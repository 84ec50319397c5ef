/**
 * Fine-tuning an official PyTorch run (`--continue_train --from_pth DIR`, train/officialRun.ts):
 * the four networks start from the .pth tensors, optimisers start fresh, and training runs.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseTrainOptions, type TrainOptions } from '../../train/trainOptions';
import { initBackend } from '../../core/tf/backend';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { checkpointModelState, checkpointPath, loadCheckpoint } from '../../train/checkpoint';
import { NET_NAMES } from '../../train/model/cycleGan';
import { officialRunWeights } from '../../train/officialRun';
import { loadGolden } from '../helpers/golden';
import { trainQuietly } from '../helpers/tinyTraining';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pth');
const RUN = path.join(FIXTURES, 'run');
const root = mkdtempSync(path.join(tmpdir(), 'from-pth-'));
const dataroot = path.join(root, 'data');

/** The fixture run's architecture (tools/make_pth_fixtures.py): resnet_2blocks ngf 4, basic D ndf 4. */
function options(extra: Record<string, unknown>): TrainOptions {
  return parseTrainOptions({
    dataroot,
    name: 'finetune',
    checkpoints_dir: path.join(root, 'ck'),
    netG: 'resnet_2blocks',
    ngf: 4,
    ndf: 4,
    load_size: 36,
    crop_size: 32,
    n_epochs: 2,
    n_epochs_decay: 0,
    seed: 5,
    backend: 'wasm',
    workers: 1,
    ...extra,
  });
}

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 36, n: 4, n_test: 2, seed: 3, force: false });
});

it('reads the four networks of an official run folder exactly', async () => {
  const golden = loadGolden('run', FIXTURES);
  const nets = await officialRunWeights(RUN, 'latest', options({}));
  for (const n of NET_NAMES) {
    const want = golden.group(`${n}/`);
    expect([...nets[n].keys()]).toEqual([...want.keys()]);
    for (const [k, t] of want) expect(nets[n].get(k)!.data).toEqual(t.data);
  }
});

it('--continue_train --from_pth trains on from the official weights with fresh optimisers', async () => {
  const o = options({ continue_train: true, from_pth: RUN, max_iters: 2 });
  const logs: string[] = [];
  const r = await trainQuietly(o, (m) => logs.push(m));
  expect(r.itersRun).toBe(2);
  expect(logs.join('\n')).toMatch(/starting from the official PyTorch run .*run \(epoch latest\)/);
  const state = checkpointModelState(await loadCheckpoint(checkpointPath(o.checkpoints_dir, o.name, 'latest')));
  expect(state.adam!.G.step).toBe(2);
  expect(r.position.epoch).toBe(1);
  // Two Adam steps of lr 2e-4 move each weight by at most ~4e-4: the run continued from the .pth
  // weights (a fresh initialisation would differ by far more), and it did train.
  const golden = loadGolden('run', FIXTURES);
  const diffs = NET_NAMES.map((n) => {
    let maxDiff = 0;
    for (const [k, t] of golden.group(`${n}/`)) {
      const got = state.nets[n].get(k)!.data;
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - t.data[i]));
    }
    return maxDiff;
  });
  for (const d of diffs) {
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(1e-3);
  }
});

it('refuses --from_pth without --continue_train, and weights that do not fit the options', async () => {
  expect(() => options({ from_pth: RUN })).toThrow(/--from_pth needs --continue_train/);
  await expect(trainQuietly(options({ continue_train: true, from_pth: RUN, ngf: 8, max_iters: 1 }))).rejects.toThrow(
    /latest_net_G_A\.pth does not fit --netG resnet_2blocks --ngf 8 .*the weights fit --netG resnet_2blocks --ngf 4/,
  );
  await expect(trainQuietly(options({ continue_train: true, from_pth: root, max_iters: 1 }))).rejects.toThrow(
    /cannot read .*latest_net_G_A\.pth: no such file/,
  );
});
