/**
 * `npm run import` end to end, as a user runs it (a child process), on .pth files written by
 * PyTorch (tests/fixtures/pth, tools/make_pth_fixtures.py): every format and key convention gives
 * a model folder whose ONNX output equals PyTorch's within 1e-4, and which the server serves
 * within 1 grey level of PyTorch's tensor2im image. Malformed files: exit 1, one line, nothing written.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import { generatorSpec } from '../../core/arch/spec';
import { readManifest } from '../../core/modelManifest';
import { referenceGenerator } from '../../export/referenceForward';
import { compareOutputs, runOnnx } from '../../export/verify';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { encodePth, maliciousPickle } from '../../tools/writePth';
import { loadGolden } from '../helpers/golden';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'pth');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runImport(args: string[]): CliRun {
  const r = spawnSync(
    path.join(ROOT, 'node_modules', '.bin', 'tsx'),
    [path.join(ROOT, 'export', 'importCli.ts'), ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The fixture's official options as command-line flags. */
function flags(official: Record<string, unknown>): string[] {
  return Object.entries(official).flatMap(([k, v]) => (k === 'netD' || k === 'ndf' ? [] : [`--${k}`, String(v)]));
}

const CASES = ['resnet_zip', 'resnet_legacy', 'resnet_fp16', 'unet_dataparallel'];

let tmp: string;
let models: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-import-'));
  models = path.join(tmp, 'models');
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('npm run import --pth (one generator per file)', () => {
  it.each(CASES)('%s: ONNX output equals PyTorch within 1e-4', async (name) => {
    const g = loadGolden(name, FIXTURES);
    const official = g.config.official as Record<string, unknown>;
    const input = g.tensor('input');
    const r = runImport([
      '--pth',
      path.join(FIXTURES, `${name}.pth`),
      '--name',
      name,
      ...flags(official),
      '--crop_size',
      String(input.shape[2]),
      '--out',
      path.join(models, name),
      '--quiet',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^wrote .*${name} \\(AtoB\\)`));
    const dir = path.join(models, name);
    // Instance-norm generators also get the tiled-execution graphs (export/tilingGraphs.ts).
    const tiling = official.norm === 'instance' ? ['AtoB.tile-apply.onnx', 'AtoB.tile-stats.onnx'] : [];
    expect((await fs.readdir(dir)).sort()).toEqual(['AtoB.onnx', ...tiling, 'AtoB.weights', 'model.json']);
    const m = await readManifest(dir);
    expect(Object.keys(m.directions)).toEqual(['AtoB']);
    expect(m.description).toMatch(/AtoB only/);
    // The default check: the independent float64 forward pass, at --verify_size 32 (or the U-Net's multiple).
    expect(m.verification).toMatchObject({ reference: expect.stringMatching(/float64/) });
    expect(m.architecture).toMatchObject({ netG: official.netG, ngf: official.ngf, norm: official.norm });
    const out = await runOnnx(path.join(dir, 'AtoB.onnx'), input.data, input.shape);
    expect([...out.dims]).toEqual(g.tensor('output').shape);
    expect(compareOutputs(out.data as Float32Array, g.tensor('output').data).max).toBeLessThanOrEqual(1e-4);
  });

  describe('served by npm start', () => {
    let server: Server;
    let repo: ModelRepository;

    beforeAll(async () => {
      const config = loadConfig({}, { MODELS_DIR: models, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
      repo = new ModelRepository(config, pino({ level: 'silent' }));
      await repo.load();
      server = createApp(config, repo, { logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
      await once(server, 'listening');
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((res) => server.close(res));
      await repo.close();
    });

    it.each(CASES)("%s: the translated PNG is PyTorch's tensor2im image within 1 grey level", async (name) => {
      const res = await request(server)
        .post(`/translate?model=${name}&dir=AtoB`)
        .attach('image', readFileSync(path.join(FIXTURES, `${name}.input.png`)), 'in.png');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('image/png');
      expect(await maxGreyDiff(res.body as Buffer, path.join(FIXTURES, `${name}.expected.png`))).toBeLessThanOrEqual(1);
    });

    it('a single-direction import says so: BtoA is a 404 problem naming the directions it has', async () => {
      const info = await request(server).get('/v1/models/resnet_zip');
      expect(info.status).toBe(200);
      expect(info.body.directions).toEqual(['AtoB']);
      const res = await request(server)
        .post('/translate?model=resnet_zip&dir=BtoA')
        .attach('image', readFileSync(path.join(FIXTURES, 'resnet_zip.input.png')), 'in.png');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.text).detail).toMatch(/has no BtoA generator \(directions: AtoB\)/);
    });
  });
});

/** Max |a - b| over two images' 8-bit pixels, after checking they have the same size. */
async function maxGreyDiff(a: Buffer | string, b: Buffer | string): Promise<number> {
  const got = await sharp(a).raw().toBuffer({ resolveWithObject: true });
  const want = await sharp(b).raw().toBuffer({ resolveWithObject: true });
  expect([got.info.width, got.info.height, got.info.channels]).toEqual([
    want.info.width,
    want.info.height,
    want.info.channels,
  ]);
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - want.data[i]));
  return worst;
}

describe('npm run translate on an imported model folder', () => {
  it("writes PyTorch's tensor2im image within 1 grey level", async () => {
    const input = path.join(tmp, 'photos');
    const output = path.join(tmp, 'translated');
    await fs.mkdir(input, { recursive: true });
    await fs.copyFile(path.join(FIXTURES, 'resnet_legacy.input.png'), path.join(input, 'a.png'));
    const run = spawnSync(
      path.join(ROOT, 'node_modules', '.bin', 'tsx'),
      [
        path.join(ROOT, 'translate', 'cli.ts'),
        ...['--model', path.join(models, 'resnet_legacy'), '--input', input, '--output', output, '--quiet'],
        ...['--execution_providers', 'cpu'],
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(
      await maxGreyDiff(path.join(output, 'a.png'), path.join(FIXTURES, 'resnet_legacy.expected.png')),
    ).toBeLessThanOrEqual(1);
  });
});

describe('npm run import --checkpoints_dir (an official run folder)', () => {
  it('imports latest_net_G_A/G_B as AtoB/BtoA (verified here with the tfjs reference)', async () => {
    const g = loadGolden('run', FIXTURES);
    const out = path.join(models, 'run');
    const r = runImport([
      '--checkpoints_dir',
      FIXTURES,
      '--name',
      'run',
      ...flags(g.config.official as Record<string, unknown>),
      '--crop_size',
      '32',
      '--out',
      out,
      '--reference',
      'tfjs',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/max \|onnx - reference\| \S+ \(≤ 0\.0001\)/);
    const m = await readManifest(out);
    expect(m.verification).toMatchObject({ reference: expect.stringMatching(/tfjs/), sizes: ['32x32', '16x32'] });
    expect(Object.keys(m.directions).sort()).toEqual(['AtoB', 'BtoA']);
    expect(m.description).not.toMatch(/only/);
    expect(m.epoch).toBe('latest');
    const input = g.tensor('input');
    const a = await runOnnx(path.join(out, 'AtoB.onnx'), input.data, input.shape);
    expect(compareOutputs(a.data as Float32Array, g.tensor('output').data).max).toBeLessThanOrEqual(1e-4);
    // BtoA holds G_B's PyTorch weights: the float64 forward of those tensors agrees.
    const spec = generatorSpec(g.config.generator!);
    const b = await runOnnx(path.join(out, 'BtoA.onnx'), input.data, input.shape);
    const ref = await referenceGenerator(spec, g.group('G_B/'))(input.data, input.shape);
    expect(compareOutputs(b.data as Float32Array, ref).max).toBeLessThanOrEqual(1e-4);
  });
});

it('--checkpoints_dir with a pretrained test model folder (<epoch>_net_G.pth) imports AtoB', async () => {
  const ck = path.join(tmp, 'pretrained');
  await fs.mkdir(path.join(ck, 'zoo_pretrained'), { recursive: true });
  await fs.copyFile(path.join(FIXTURES, 'resnet_legacy.pth'), path.join(ck, 'zoo_pretrained', 'latest_net_G.pth'));
  const out = path.join(tmp, 'zoo');
  const run = runImport([
    ...['--checkpoints_dir', ck, '--name', 'zoo_pretrained', '--netG', 'resnet_2blocks', '--ngf', '4'],
    ...['--crop_size', '32', '--out', out, '--quiet'],
  ]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const m = await readManifest(out);
  expect(Object.keys(m.directions)).toEqual(['AtoB']);
  expect(m.description).toMatch(/latest_net_G\.pth; AtoB only/);
});

describe('bad input: exit 1, one line, nothing written', () => {
  const good = readFileSync(path.join(FIXTURES, 'resnet_zip.pth'));
  const tiny = ['--netG', 'resnet_2blocks', '--ngf', '4', '--crop_size', '32', '--reference', 'float64'];

  async function expectRefused(file: Buffer | string, extra: string[], pattern: RegExp): Promise<void> {
    const pth = typeof file === 'string' ? file : path.join(tmp, `bad-${Math.random().toString(16).slice(2)}.pth`);
    if (typeof file !== 'string') await fs.writeFile(pth, file);
    const parent = path.join(tmp, 'refused');
    const out = path.join(parent, 'm');
    const r = runImport(['--pth', pth, '--name', 'm', '--out', out, ...extra]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^import: error: /);
    expect(lines[0]).toMatch(pattern);
    expect(r.stdout).not.toMatch(/wrote/);
    await expect(fs.stat(out)).rejects.toThrow();
    const left = await fs.readdir(parent).catch(() => [] as string[]);
    expect(left).toEqual([]);
  }

  it('a truncated zip archive', async () => {
    await expectRefused(good.subarray(0, good.length >> 1), tiny, /truncated/);
  });

  it('a file with the wrong magic number', async () => {
    await expectRefused(Buffer.from('PK? no, just text pretending'), tiny, /not a PyTorch checkpoint/);
  });

  it('a pickle that references os.system (refused, not executed)', async () => {
    const marker = path.join(tmp, 'pwned');
    const evil = encodePth(new Map(), {
      format: 'legacy',
      pickleOverride: maliciousPickle('os', 'system', `touch ${marker}`),
    });
    await expectRefused(evil, tiny, /refusing to load global 'os\.system'/);
    await expect(fs.stat(marker)).rejects.toThrow();
  });

  it('weights that do not fit the options: names the tensors and the options that fit', async () => {
    await expectRefused(
      path.join(FIXTURES, 'resnet_zip.pth'),
      ['--crop_size', '32', '--reference', 'float64'],
      /does not fit --netG resnet_9blocks --ngf 64 .*'model\.1\.weight' is \[4,3,7,7\], expected \[64,3,7,7\].*the weights fit --netG resnet_2blocks --ngf 4 --norm instance --input_nc 3 --output_nc 3/,
    );
  });

  it('a missing file', async () => {
    await expectRefused(path.join(tmp, 'nope.pth'), tiny, /cannot read .*nope\.pth: no such file/);
  });
});
