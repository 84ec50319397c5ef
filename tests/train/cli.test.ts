/**
 * `npm run train` as a user meets it: bad flags are one-line errors with a non-zero exit, --help
 * documents the official flags, both engines train and resume each other's runs, and Ctrl-C saves
 * `latest` before exiting.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readTensorFile } from '../../core/io/tensorFile';
import { makeShapesDataset } from '../../tools/make_shapes_dataset';
import { lavapipeIcd } from '../helpers/softwareAdapter';

const ROOT = path.join(__dirname, '..', '..');
// As `npm run train` starts it: node with tsx's loader (a tsx parent process would not forward Ctrl-C gracefully).
const CLI = ['--import', 'tsx', path.join(ROOT, 'train', 'cli.ts')];
const root = mkdtempSync(path.join(tmpdir(), 'train-cli-'));
const dataroot = path.join(root, 'data');

beforeAll(async () => {
  await makeShapesDataset({ out: dataroot, size: 36, n: 4, n_test: 1, seed: 2, force: false });
});

function run(args: string[]) {
  return spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
}

test('invalid values are one-line errors naming the flag', () => {
  for (const [args, re] of [
    [['--dataroot', dataroot, '--crop_size', 'abc'], /--crop_size/],
    [['--dataroot', dataroot, '--netG', 'resnet_x'], /--netG/],
    [['--dataroot', dataroot, '--bogus'], /--bogus/],
    [['--dataroot', path.join(root, 'missing')], /--dataroot .* is not a folder/],
  ] as const) {
    const r = run([...args]);
    expect(r.status).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('npm warn'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
  }
});

test('each engine trains, and resumes the run the other saved', async () => {
  const args = [
    ...['--dataroot', dataroot, '--name', 'engines', '--checkpoints_dir', path.join(root, 'ck')],
    ...['--netG', 'resnet_1blocks', '--ngf', '4', '--ndf', '4', '--load_size', '36', '--crop_size', '32'],
    ...['--pool_size', '2', '--print_freq', '1', '--backend', 'wasm', '--seed', '1'],
  ];
  const latest = () =>
    readTensorFile<{ position: { totalIters: number } }>(path.join(root, 'ck', 'engines', 'latest.ckpt'));
  for (const [engine, iters, extra, says] of [
    ['onnxruntime', 2, ['--threads', '2'], 'onnxruntime engine, 2 threads'],
    ['tfjs', 4, ['--continue_train', '--workers', '1'], 'tfjs engine (wasm), 1 worker thread'],
    ['onnxruntime', 6, ['--continue_train', '--threads', '1'], 'onnxruntime engine, 1 thread'],
  ] as const) {
    const r = run([...args, '--engine', engine, '--max_iters', String(iters), ...extra]);
    expect([engine, r.status]).toEqual([engine, 0]);
    expect(r.stderr).toContain(says);
    expect(r.stderr).toMatch(/done \(max_iters\): 2 iterations this run/);
    expect((await latest()).meta.position.totalIters).toBe(iters);
  }
});

const NO_LAVAPIPE = ' [skipped: no lavapipe ICD installed; tools/gpu/software-adapter.sh installs it]';
(lavapipeIcd ? test : test.skip)(
  `defaults with the software adapter visible: the onnxruntime CPU engine trains, one line says why, Dawn is silent${lavapipeIcd ? '' : NO_LAVAPIPE}`,
  () => {
    const args = [
      ...['--dataroot', dataroot, '--name', 'auto', '--checkpoints_dir', path.join(root, 'ck')],
      ...['--netG', 'resnet_1blocks', '--ngf', '4', '--ndf', '4', '--load_size', '36', '--crop_size', '32'],
      ...['--max_iters', '1', '--seed', '1'],
    ];
    const r = spawnSync(process.execPath, [...CLI, ...args], {
      encoding: 'utf8',
      cwd: ROOT,
      timeout: 60_000,
      env: { ...process.env, VK_ICD_FILENAMES: lavapipeIcd ?? '' },
    });
    expect(r.status).toBe(0);
    const passedOver = r.stderr.split('\n').filter((l) => l.includes('passed over'));
    expect(passedOver).toEqual([
      'engine auto: onnxruntime on the CPU, passed over the software WebGPU adapter (llvmpipe): ' +
        'the onnxruntime CPU engine is faster (--device webgpu uses it)',
    ]);
    expect(r.stderr).toMatch(/; onnxruntime engine, /);
    expect(r.stderr).not.toMatch(/tfjs engine|Warning|artificially/);
    expect(r.stderr).toMatch(/done \(max_iters\): 1 iterations this run/);
  },
);

test('--help documents the official flags with their defaults', () => {
  const r = run(['--help']);
  expect(r.status).toBe(0);
  for (const flag of [
    '--dataroot',
    '--n_layers_D',
    '--lambda_identity',
    '--lr_policy',
    '--no_flip',
    '--continue_train',
    '--engine',
    '--threads',
  ]) {
    expect(r.stdout).toContain(flag);
  }
  expect(r.stdout).toMatch(/--lr\b[^\n]*0\.0002/);
});

test('SIGINT finishes the iteration, saves latest and exits 130', async () => {
  const args = [
    ...['--dataroot', dataroot, '--name', 'sig', '--checkpoints_dir', path.join(root, 'ck')],
    ...['--netG', 'resnet_1blocks', '--ngf', '4', '--ndf', '4', '--load_size', '36', '--crop_size', '32'],
    ...['--print_freq', '1', '--backend', 'wasm', '--seed', '1'],
  ];
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT });
  let stderr = '';
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no iteration logged: ${stderr}`)), 60_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/\(epoch 1, iter \d+\)/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill('SIGINT');
  expect(await exit).toBe(130);
  expect(stderr).toMatch(/saved latest at iteration \d+/);
  expect(stderr).toMatch(/; onnxruntime engine, \d+ threads?\n/); // the default on a CPU backend
  const ck = await readTensorFile<{ position: { totalIters: number } }>(path.join(root, 'ck', 'sig', 'latest.ckpt'));
  expect(ck.meta.position.totalIters).toBeGreaterThanOrEqual(1);
});

test('kill -9 at any moment leaves a loadable latest checkpoint', async () => {
  const ck = path.join(root, 'ck9');
  const args = [
    ...['--dataroot', dataroot, '--name', 'k9', '--checkpoints_dir', ck],
    ...['--netG', 'resnet_1blocks', '--ngf', '4', '--ndf', '4', '--load_size', '36', '--crop_size', '32'],
    // Save latest after every image, so the kill is likely to land during a write.
    ...['--print_freq', '1', '--save_latest_freq', '1', '--backend', 'wasm', '--seed', '1'],
  ];
  for (const delayMs of [0, 37, 91]) {
    const child = spawn(process.execPath, [...CLI, ...args, ...(delayMs ? ['--continue_train'] : [])], { cwd: ROOT });
    const exit = new Promise((resolve) => child.on('exit', resolve));
    let seen = 0;
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        seen += (d.toString().match(/\(epoch \d+, iter \d+\)/g) ?? []).length;
        if (seen >= 3) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exit;
    const file = path.join(ck, 'k9', 'latest.ckpt');
    const loaded = await readTensorFile<{ position: { totalIters: number } }>(file);
    expect(loaded.meta.position.totalIters).toBeGreaterThanOrEqual(1);
  }
});
