/**
 * `npm run export` end to end, as a user runs it (a child process), on temp checkpoint folders in
 * the trainer's format: single run, batch, `--epoch all`, fp16, replacing a folder, and every
 * bad-input path (exit code, one-line message, nothing left behind).
 */
import { tileGeometry } from '../../core/arch/tileGeometry';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readManifest } from '../../core/modelManifest';
import { referenceGenerator } from '../../export/referenceForward';
import { compareOutputs, runOnnx, seededRandom } from '../../export/verify';
import { checkpointNet, checkpointOptions, loadCheckpoint } from '../../train/checkpoint';
import pkg from '../../package.json';
import { runCli, specFor, tinyOptions, writeCheckpoint, type CliRun } from '../helpers/exportFixtures';

/** Instance-norm generators also get the tiled-execution graphs (export/tilingGraphs.ts); all three share `<d>.weights`. */
const TILING_FILES = {
  AtoB: ['AtoB.tile-apply.onnx', 'AtoB.tile-stats.onnx', 'AtoB.weights'],
  BtoA: ['BtoA.tile-apply.onnx', 'BtoA.tile-stats.onnx', 'BtoA.weights'],
};

let tmp: string;
let ckpts: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-export-'));
  ckpts = path.join(tmp, 'checkpoints');
  // A grey → colour run, so AtoB and BtoA differ in channels too.
  await writeCheckpoint(ckpts, 'gray2rgb', 'latest', tinyOptions({ input_nc: 1, output_nc: 3 }), 1, 4);
  await writeCheckpoint(ckpts, 'gray2rgb', 2, tinyOptions({ input_nc: 1, output_nc: 3 }), 2);
  await writeCheckpoint(ckpts, 'unet', 'latest', tinyOptions({ netG: 'unet_128', norm: 'batch', crop_size: 128 }), 3);
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** Hidden `.NAME.tmp-*` / `.NAME.old-*` folders left in `dir`. */
async function leftovers(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  return entries.filter((e) => /^\..*\.(tmp|old)-/.test(e));
}

function expectOneLineError(r: CliRun, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

/** The exported graph, run in onnxruntime, against the reference forward pass of the checkpoint's weights. */
async function expectMatchesCheckpoint(folder: string, ckptFile: string): Promise<void> {
  const manifest = await readManifest(folder);
  const ckpt = await loadCheckpoint(ckptFile);
  for (const [dir, net] of [
    ['AtoB', 'G_A'],
    ['BtoA', 'G_B'],
  ] as const) {
    const entry = manifest.directions[dir]!;
    const bytes = await fs.readFile(path.join(folder, entry.file));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(entry.sha256);
    const spec = specFor(checkpointOptions(ckpt), net);
    expect([entry.inputNc, entry.outputNc]).toEqual([spec.inputNc, spec.outputNc]);
    const shape = [1, spec.inputNc, 32, 24];
    const rand = seededRandom(9);
    const input = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rand() * 2 - 1);
    const out = await runOnnx(path.join(folder, entry.file), input, shape);
    expect([...out.dims]).toEqual([1, spec.outputNc, 32, 24]);
    const ref = await referenceGenerator(spec, checkpointNet(ckpt, net))(input, shape);
    expect(compareOutputs(out.data as Float32Array, ref).max).toBeLessThanOrEqual(1e-4);
    // model.json lists the tiling graphs with their checksums.
    const tiling = entry.tiling!;
    expect(tiling).toMatchObject({ norm: 'instance', halo: tileGeometry(spec).halo, multiple: 4 });
    for (const g of [tiling.statistics!, tiling.apply!])
      expect(
        createHash('sha256')
          .update(await fs.readFile(path.join(folder, g.file)))
          .digest('hex'),
      ).toBe(g.sha256);
  }
}

describe('npm run export', () => {
  test('--help documents every flag with its default', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    const h = r.stdout;
    // One block per option (commander wraps long descriptions), whitespace collapsed.
    const blocks = h.split(/\n(?=\s{2}-)/).map((b) => b.replace(/\s+/g, ' ').trim());
    for (const [flag, def] of [
      ['--checkpoints_dir <dir>', '(default: ./checkpoints)'],
      ['--name <run>', 'every run'],
      ['--epoch <epoch>', '(default: latest)'],
      ['--out <dir>', 'default <models_dir>/<name>'],
      ['--models_dir <dir>', '(default: ./models)'],
      ['--opset <n>', '(default: 17)'],
      ['--fp16', 'half-precision'],
      ['--no_verify', 'fp32 bound 0.0001'],
      ['--reference <choice>', '(one of: tfjs, float64) (default: tfjs)'],
      ['--quiet', 'only errors'],
    ]) {
      const block = blocks.find((b) => b.startsWith(flag));
      expect(block).toBeDefined();
      expect(block).toContain(def);
    }
    expect(h).toContain('kebab-case spelling (e.g. --checkpoints-dir for --checkpoints_dir');
    expect(runCli(['--version']).stdout.trim()).toBe(pkg.version);
  });

  test('one run: AtoB.onnx, BtoA.onnx and model.json that reproduce the checkpoint', async () => {
    const models = path.join(tmp, 'single');
    const r = runCli(['--checkpoints_dir', ckpts, '--name', 'gray2rgb', '--models_dir', models]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/max \|onnx - reference\| \S+ \(≤ 0\.0001\)/);
    const folder = path.join(models, 'gray2rgb');
    expect((await fs.readdir(folder)).sort()).toEqual([
      'AtoB.onnx',
      ...TILING_FILES.AtoB,
      'BtoA.onnx',
      ...TILING_FILES.BtoA,
      'model.json',
    ]);
    const m = await readManifest(folder);
    expect(m).toMatchObject({
      name: 'gray2rgb',
      inputNc: 1,
      outputNc: 3,
      preferredSize: 32,
      sizeMultiple: 4,
      epoch: 4,
      io: { input: 'input', output: 'output', layout: 'NCHW' },
      producer: { name: 'cyclegan-ts', version: pkg.version },
      architecture: { netG: 'resnet_1blocks', ngf: 4, norm: 'instance', input_nc: 1, output_nc: 3, no_dropout: true },
      directions: {
        AtoB: { file: 'AtoB.onnx', inputNc: 1, outputNc: 3 },
        BtoA: { file: 'BtoA.onnx', inputNc: 3, outputNc: 1 },
      },
    });
    expect(m.normalization.mean.every((v) => v === 0.5)).toBe(true);
    expect(m.normalization.std.every((v) => v === 0.5)).toBe(true);
    expect(Date.now() - Date.parse(m.createdAt!)).toBeLessThan(10 * 60_000);
    expect(m.verification).toMatchObject({ sizes: ['32x32', '16x32'], fp32Tolerance: 1e-4 });
    await expectMatchesCheckpoint(folder, path.join(ckpts, 'gray2rgb', 'latest.ckpt'));
    expect(await leftovers(models)).toEqual([]);
  });

  test('kebab-case aliases, --epoch N, --out, --opset, --fp16', async () => {
    const out = path.join(tmp, 'custom', 'place');
    const r = runCli([
      '--checkpoints-dir',
      ckpts,
      '--name=gray2rgb',
      '--epoch',
      '2',
      '--out',
      out,
      '--opset',
      '13',
      '--fp16',
      '--quiet',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote ${out} (epoch 2)`);
    expect((await fs.readdir(out)).sort()).toEqual([
      'AtoB.fp16.onnx',
      'AtoB.onnx',
      ...TILING_FILES.AtoB,
      'BtoA.fp16.onnx',
      'BtoA.onnx',
      ...TILING_FILES.BtoA,
      'model.json',
    ]);
    const m = await readManifest(out);
    expect(m.epoch).toBe(2);
    for (const d of ['AtoB', 'BtoA'] as const) {
      const e = m.directions[d]!;
      expect(e.fp16File).toBe(`${d}.fp16.onnx`);
      const bytes = await fs.readFile(path.join(out, e.fp16File!));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(e.fp16Sha256);
    }
    expect(m.verification).toMatchObject({ fp16Tolerance: 0.02 });
    await expectMatchesCheckpoint(out, path.join(ckpts, 'gray2rgb', '2.ckpt'));
  });

  test('without --name every run under --checkpoints_dir is exported', async () => {
    const models = path.join(tmp, 'batch');
    await fs.mkdir(path.join(ckpts, 'not_a_run'), { recursive: true }); // no .ckpt: ignored
    const r = runCli(['--checkpoints_dir', ckpts, '--models_dir', models, '--no_verify']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await fs.readdir(models)).sort()).toEqual(['gray2rgb', 'unet']);
    expect(r.stdout).not.toContain('verifying');
    const unet = await readManifest(path.join(models, 'unet'));
    expect(unet).toMatchObject({ preferredSize: 128, sizeMultiple: 128, architecture: { netG: 'unet_128' } });
    expect(unet.verification).toBeUndefined();
  });

  test('--epoch all writes every numbered epoch into <out>/epoch_N/', async () => {
    const c = path.join(tmp, 'ckpt_all');
    for (const e of [1, 5, 10]) await writeCheckpoint(c, 'run', e, tinyOptions(), 20 + e);
    await writeCheckpoint(c, 'run', 'latest', tinyOptions(), 30, 10);
    const models = path.join(tmp, 'all');
    const r = runCli(['--checkpoints_dir', c, '--name', 'run', '--epoch', 'all', '--models-dir', models, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await fs.readdir(path.join(models, 'run'))).sort()).toEqual(['epoch_1', 'epoch_10', 'epoch_5']);
    for (const e of [1, 5, 10]) {
      const folder = path.join(models, 'run', `epoch_${e}`);
      expect((await readManifest(folder)).epoch).toBe(e);
      if (e === 5) await expectMatchesCheckpoint(folder, path.join(c, 'run', '5.ckpt'));
    }
    // Run again: the folder of epoch folders is replaced as a whole.
    expect(runCli(['--checkpoints_dir', c, '--name', 'run', '--epoch', 'all', '--models_dir', models]).code).toBe(0);
    expect(await leftovers(models)).toEqual([]);
  });

  test('re-exporting replaces the folder completely, with nothing left over', async () => {
    const out = path.join(tmp, 'replace', 'model');
    expect(
      runCli(['--checkpoints_dir', ckpts, '--name', 'gray2rgb', '--epoch', '2', '--out', out, '--fp16']).code,
    ).toBe(0);
    const r = runCli(['--checkpoints_dir', ckpts, '--name', 'gray2rgb', '--out', out]);
    expect(r.code).toBe(0);
    expect((await fs.readdir(out)).sort()).toEqual([
      'AtoB.onnx',
      ...TILING_FILES.AtoB,
      'BtoA.onnx',
      ...TILING_FILES.BtoA,
      'model.json',
    ]);
    expect((await readManifest(out)).epoch).toBe(4);
    expect(await leftovers(path.dirname(out))).toEqual([]);
  });
});

describe('npm run export: bad input', () => {
  let bad: string;
  let models: string;

  beforeAll(async () => {
    bad = path.join(tmp, 'bad_checkpoints');
    models = path.join(tmp, 'bad_models');
    const good = await writeCheckpoint(bad, 'good', 'latest', tinyOptions(), 5);
    const bytes = await fs.readFile(good);
    // Partial: the download or copy stopped half way.
    await fs.mkdir(path.join(bad, 'partial'));
    await fs.writeFile(path.join(bad, 'partial', 'latest.ckpt'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    // Corrupt: one flipped bit in the weights.
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 100] ^= 0x10;
    await fs.mkdir(path.join(bad, 'corrupt'));
    await fs.writeFile(path.join(bad, 'corrupt', 'latest.ckpt'), flipped);
    await fs.mkdir(path.join(bad, 'garbage'));
    await fs.writeFile(path.join(bad, 'garbage', 'latest.ckpt'), 'PK\u0003\u0004 this is a zip, not a checkpoint');
    const vgg = await writeCheckpoint(bad, 'vgg', 'latest', tinyOptions());
    await rewriteMeta(vgg, (m) => ({ ...m, options: { ...(m.options as object), netG: 'vgg16' } }));
    await writeCheckpoint(bad, 'rgba', 'latest', tinyOptions({ input_nc: 4 }));
    // Options that do not describe the weights (resnet_1blocks weights, resnet_2blocks options).
    const mismatch = await writeCheckpoint(bad, 'mismatch', 'latest', tinyOptions());
    await rewriteMeta(mismatch, (m) => ({ ...m, options: { ...(m.options as object), netG: 'resnet_2blocks' } }));
    const noOptions = await writeCheckpoint(bad, 'no_options', 'latest', tinyOptions());
    await rewriteMeta(noOptions, (m) => ({ ...m, options: { netG: 'resnet_1blocks' } }));
    const foreign = await writeCheckpoint(bad, 'foreign', 'latest', tinyOptions());
    await rewriteMeta(foreign, (m) => ({ ...m, format: 'something-else@3' }));
    const onlyGA = await writeCheckpoint(bad, 'only_G_A', 'latest', tinyOptions());
    await dropTensors(onlyGA, 'net.G_B.');
  });

  async function rewriteMeta(file: string, f: (meta: Record<string, unknown>) => unknown): Promise<void> {
    const { readTensorFile, writeTensorFile } = await import('../../core/io/tensorFile');
    const t = await readTensorFile<Record<string, unknown>>(file);
    await writeTensorFile(file, f(t.meta), t.tensors);
  }

  async function dropTensors(file: string, prefix: string): Promise<void> {
    const { readTensorFile, writeTensorFile } = await import('../../core/io/tensorFile');
    const t = await readTensorFile(file);
    for (const k of [...t.tensors.keys()]) if (k.startsWith(prefix)) t.tensors.delete(k);
    await writeTensorFile(file, t.meta, t.tensors);
  }

  const cases: [string, string[], RegExp][] = [
    ['missing run', ['--name', 'nope'], /checkpoint not found: .*nope.*latest\.ckpt \(no folder/],
    ['missing epoch', ['--name', 'good', '--epoch', '7'], /checkpoint not found: .*7\.ckpt \(saved: latest\.ckpt\)/],
    [
      'partial checkpoint',
      ['--name', 'partial'],
      /partial.*latest\.ckpt: expected \d+ data bytes, found \d+ \(truncated\?\)/,
    ],
    ['corrupt checkpoint', ['--name', 'corrupt'], /corrupt.*latest\.ckpt: checksum mismatch/],
    ['not a checkpoint', ['--name', 'garbage'], /garbage.*: not a cyclegan-ts tensor file/],
    [
      'foreign format',
      ['--name', 'foreign'],
      /checkpoint format 'something-else@3', expected 'cyclegan-ts\/checkpoint@1'/,
    ],
    ['options missing', ['--name', 'no_options'], /checkpoint options: 'ngf': Required/],
    ['unknown architecture', ['--name', 'vgg'], /unknown generator architecture 'vgg16'/],
    [
      'unsupported channels',
      ['--name', 'rgba'],
      /input_nc is 4; exported models take 1 \(grey\) or 3 \(RGB\) channels/,
    ],
    [
      'weights of another architecture',
      ['--name', 'mismatch'],
      /G_A: unexpected parameter 'model\.10\.conv_block\.1\.weight'|G_A: missing parameter/,
    ],
    ['G_B missing', ['--name', 'only_G_A'], /G_B: missing parameter 'model\.1\.weight'/],
    [
      'bad --epoch',
      ['--name', 'good', '--epoch', 'last'],
      /^export: error: --epoch: expected 'latest', 'all' or an epoch number, got "last" \(see --help\)$/,
    ],
    [
      'bad --opset',
      ['--name', 'good', '--opset', '9'],
      /^export: error: --opset: expected an integer from 13 to 21, got "9" \(see --help\)$/,
    ],
    ['--out without --name', ['--out', 'x'], /^export: error: --out needs --name .* \(see --help\)$/],
    [
      'unknown flag',
      ['--name', 'good', '--gpu_ids', '0'],
      /^export: error: unknown option '--gpu_ids' \(see --help\)$/,
    ],
  ];

  test.each(cases)('%s', async (_, args, message) => {
    const r = runCli(['--checkpoints_dir', bad, '--models_dir', models, '--quiet', ...args]);
    // Bad command lines exit 2 (usage), failures 1; either way one line on stderr.
    const usage = /see --help/.test(message.source);
    expect([r.code, r.stderr.trim().split('\n')]).toEqual([usage ? 2 : 1, [expect.stringMatching(message)]]);
    expect(r.stderr).toMatch(/^export: error: /);
    expect(r.stdout).toBe('');
    const name = args[args.indexOf('--name') + 1];
    if (args.includes('--name')) expect(await exists(path.join(models, name))).toBe(false);
    expect(await leftovers(models)).toEqual([]);
  });

  test('unwritable output folder (its parent is a file): error, nothing written', async () => {
    const file = path.join(tmp, 'a_file');
    await fs.writeFile(file, 'x');
    const r = runCli(['--checkpoints_dir', bad, '--name', 'good', '--out', path.join(file, 'model'), '--quiet']);
    expectOneLineError(r, /^export: error: cannot create output folder .*a_file: .*(EEXIST|ENOTDIR)/);
    expect(await fs.readFile(file, 'utf8')).toBe('x');
    expect(await leftovers(tmp)).toEqual([]);
  });

  test('an existing folder that is not a model folder is never replaced', async () => {
    const precious = path.join(tmp, 'precious');
    await fs.mkdir(precious);
    await fs.writeFile(path.join(precious, 'thesis.tex'), 'do not delete');
    const r = runCli(['--checkpoints_dir', bad, '--name', 'good', '--out', precious, '--quiet']);
    expectOneLineError(r, /refusing to replace .*precious: it exists and is not a model folder \(no model\.json\)/);
    expect(await fs.readdir(precious)).toEqual(['thesis.tex']);
  });

  test('a failed re-export leaves the previous model folder untouched', async () => {
    const out = path.join(tmp, 'keep', 'model');
    expect(runCli(['--checkpoints_dir', bad, '--name', 'good', '--out', out, '--quiet']).code).toBe(0);
    const before = await snapshot(out);
    await fs.copyFile(path.join(bad, 'corrupt', 'latest.ckpt'), path.join(bad, 'good', '9.ckpt'));
    const r = runCli(['--checkpoints_dir', bad, '--name', 'good', '--epoch', '9', '--out', out, '--quiet']);
    expectOneLineError(r, /checksum mismatch/);
    expect(await snapshot(out)).toEqual(before);
    expect(await leftovers(path.dirname(out))).toEqual([]);
    await fs.rm(path.join(bad, 'good', '9.ckpt'));
  });

  test('batch mode exports the good runs, names each failure on one line, and exits 1', async () => {
    const dir = path.join(tmp, 'mixed');
    await writeCheckpoint(dir, 'fine', 'latest', tinyOptions(), 11);
    await fs.mkdir(path.join(dir, 'broken'), { recursive: true });
    await fs.copyFile(path.join(bad, 'corrupt', 'latest.ckpt'), path.join(dir, 'broken', 'latest.ckpt'));
    const out = path.join(tmp, 'mixed_models');
    const r = runCli(['--checkpoints_dir', dir, '--models_dir', out, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^export: error: broken: .*checksum mismatch$/),
      'export: 1 of 2 runs failed: broken',
    ]);
    expect(await fs.readdir(out)).toEqual(['fine']);
  });

  test('batch mode with no checkpoint folders is an error', async () => {
    const empty = path.join(tmp, 'empty');
    await fs.mkdir(empty);
    expectOneLineError(runCli(['--checkpoints_dir', empty]), /no checkpoint folders .* under .*empty/);
    expectOneLineError(
      runCli(['--checkpoints_dir', path.join(tmp, 'absent')]),
      /cannot read checkpoints folder .*absent: ENOENT/,
    );
  });
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await fs.readdir(dir))
    out[f] = createHash('sha256')
      .update(await fs.readFile(path.join(dir, f)))
      .digest('hex');
  return out;
}
