/**
 * `npm run translate` as a user runs it (tsx, a child process): exit statuses, one-line errors,
 * kebab-case aliases, shard defaults from the Indexed Job environment, SIGTERM, and --help.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { helpText, parseCommandLine } from '../../core/cli/command';
import { EXIT_ERROR, EXIT_INTERRUPTED, EXIT_SOME_FAILED, translateCommand } from '../../translate/cli';
import { outputPaths } from '../../translate/inputTree';
import { selectShard } from '../../translate/shard';
import sharp from 'sharp';
import { noiseImage, writeTinyModel } from '../helpers/tinyModel';

const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with the tsx command, or with `node --import tsx` as the container image does when
 * `whileRunning` (which gets a function that sends SIGTERM) is given: the tsx command would relay
 * the signal to a child process and SIGKILL it if it is busy. Only the given env variables are set.
 */
function cli(
  args: string[],
  env: Record<string, string> = {},
  whileRunning?: (kill: () => void) => void,
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const [bin, pre] = whileRunning ? [process.execPath, ['--import', 'tsx']] : [TSX, []];
    const child = spawn(bin, [...pre, 'translate/cli.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', EXECUTION_PROVIDERS: 'cpu', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    whileRunning?.(() => child.kill('SIGTERM'));
  });
}

let tmp: string;
let models: string;
let input: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'translate-cli-'));
  models = path.join(tmp, 'models');
  await writeTinyModel(models, { name: 'tiny' });
  input = path.join(tmp, 'in');
  await fs.mkdir(path.join(input, 'sub'), { recursive: true });
  for (let i = 0; i < 12; i++)
    await fs.writeFile(path.join(input, i % 2 ? 'sub' : '', `img${i}.png`), await noiseImage(24, 20, 'png', i));
  await fs.writeFile(path.join(input, 'sub', 'bad.png'), 'not a png');
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('translate CLI', () => {
  it('a missing model or input folder is one line on stderr and exit status 1', async () => {
    const noModel = await cli(['--model', 'zebra', '--models-dir', models, '--input', input, '--output', tmp]);
    expect(noModel.code).toBe(EXIT_ERROR);
    expect(noModel.stdout).toBe('');
    expect(noModel.stderr).toMatch(/^translate: error: no model 'zebra' in .*models \(models there: tiny\)\n$/);

    const noInput = await cli(['--model', 'tiny', '--input', path.join(tmp, 'photos'), '--output', tmp], {
      MODELS_DIR: models,
    });
    expect(noInput.code).toBe(EXIT_ERROR);
    expect(noInput.stdout).toBe('');
    expect(noInput.stderr).toMatch(/^translate: error: input folder .*photos does not exist\n$/);
  });

  it('takes its shard from JOB_COMPLETION_INDEX and SHARD_COUNT, lists failures and exits 3', async () => {
    const all = (await fs.readdir(input, { recursive: true }))
      .filter((f) => f.endsWith('.png'))
      .map((f) => f.split(path.sep).join('/'))
      .sort();
    // The shard holding the corrupt file, so this run both succeeds and fails.
    const index = [0, 1, 2].find((i) => selectShard(all, { index: i, count: 3 }).includes('sub/bad.png'))!;
    const mine = selectShard(all, { index, count: 3 });
    const out = path.join(tmp, 'out-shard');
    const r = await cli(
      ['--model', path.join(models, 'tiny'), '--input', input, '--output', out, '--batch-size', '2', '--format=webp'],
      { JOB_COMPLETION_INDEX: String(index), SHARD_COUNT: '3' },
    );
    expect(r.code).toBe(EXIT_SOME_FAILED);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      `translate: ${mine.length - 1} done, 0 skipped (output exists), 1 failed of shard ${index}/3: ${mine.length} of ${all.length} image(s)`,
    );
    expect(lines[1]).toMatch(/^translate: [\d.]+ images\/s over [\d.]+ s; tiny AtoB on cpu, mean batch [\d.]+$/);
    expect(lines.slice(2)).toEqual([expect.stringMatching(/^failed: sub\/bad\.png: not a decodable image/)]);
    const names = outputPaths(all, 'webp');
    const written = (await fs.readdir(out, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.relative(out, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .sort();
    expect(written).toEqual(
      mine
        .filter((f) => f !== 'sub/bad.png')
        .map((f) => names.get(f)!)
        .sort(),
    );
  });

  it('on SIGTERM finishes the images in flight, writes no partial files and exits 130', async () => {
    const many = path.join(tmp, 'many');
    await fs.mkdir(many);
    const img = await noiseImage(256, 256, 'png', 3);
    for (let i = 0; i < 300; i++) await fs.writeFile(path.join(many, `p${String(i).padStart(3, '0')}.png`), img);
    const out = path.join(tmp, 'out-many');
    const r = await cli(
      ['--model', 'tiny', '--models_dir', models, '--input', many, '--output', out, '--size', 'original', '--quiet'],
      { SHARD_COUNT: '1' },
      (kill) => {
        // Signal once the first output exists.
        const poll = setInterval(() => {
          void fs.readdir(out).then(
            (f) => {
              if (f.some((x) => x.endsWith('.png'))) {
                clearInterval(poll);
                kill();
              }
            },
            () => undefined,
          );
        }, 20);
      },
    );
    expect(r.code).toBe(EXIT_INTERRUPTED);
    expect(r.stderr).toMatch(/SIGTERM: finishing the images in flight/);
    const m = /^translate: (\d+) done, 0 skipped \(output exists\), 0 failed of 300 image\(s\); interrupted$/m.exec(
      r.stdout,
    );
    expect(m).not.toBeNull();
    const done = Number(m![1]);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(300);
    const files = await fs.readdir(out);
    expect(files.length).toBe(done);
    expect(files.every((f) => /^p\d{3}\.png$/.test(f))).toBe(true);
  });

  it('rejects bad flag values in one line before doing anything', () => {
    const parse = (args: string[]) => {
      try {
        return parseCommandLine(translateCommand, ['--model', 'm', '--input', 'i', '--output', 'o', ...args]).options;
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(parse(['--size', 'big'])).toBe('--size: expected native, original or a long side in pixels, got "big"');
    expect(parse(['--batch_size', '0'])).toBe('--batch_size: expected an integer from 1 to 256, got "0"');
    expect(parse(['--execution_providers', 'cuda,tpu'])).toMatch(
      /^--execution_providers: expected a comma-separated list of cuda, tensorrt.*, got "cuda,tpu"$/,
    );
    expect(parse(['--format', 'gif'])).toBe('--format: expected one of auto, png, jpeg, webp, got "gif"');
    expect(parse(['--dir', 'AtoC'])).toBe('--dir: expected one of AtoB, BtoA, got "AtoC"');
    expect(() => parseCommandLine(translateCommand, ['--input', 'i', '--output', 'o'])).toThrow('--model is required');
    expect(parse(['--tile', 'big'])).toBe('--tile: expected auto, off or a tile side in pixels, got "big"');
    expect(parse(['--tile_stats', 'fancy'])).toBe(
      '--tile_stats: expected one of subsampled, downscaled, exact, got "fancy"',
    );
    expect(parse(['--tile', '512'])).toMatchObject({ tile: 512 });
    const ok = parse([
      '--size',
      '512',
      '--execution_providers',
      'cuda,cpu',
      '--shard_index',
      '2',
      '--shard_count',
      '3',
    ]);
    expect(ok).toMatchObject({
      size: { kind: 'long-side', side: 512 },
      execution_providers: ['cuda', 'cpu'],
      shard_index: 2,
      shard_count: 3,
      batch_size: 4,
      format: 'auto',
      tile: 'auto',
      tile_pixels: 640 * 640,
      tile_stats: 'subsampled',
    });
  });

  it('--tile N runs tiles with shared statistics: the untiled images within rounding', async () => {
    await writeTinyModel(models, { name: 'tiled', tiling: true, seed: 5 });
    const big = path.join(tmp, 'big');
    await fs.mkdir(big);
    await fs.writeFile(path.join(big, 'a.png'), await noiseImage(200, 160, 'png', 3));
    const run = async (out: string, ...flags: string[]) => {
      const r = await cli([
        '--model',
        path.join(models, 'tiled'),
        '--input',
        big,
        '--output',
        out,
        '--size',
        'original',
        '--quiet',
        ...flags,
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return sharp(path.join(out, 'a.png')).raw().toBuffer();
    };
    const off = await run(path.join(tmp, 'out-off'), '--tile', 'off');
    const tiled = await run(path.join(tmp, 'out-tiled'), '--tile', '96', '--tile_stats', 'exact');
    expect(tiled.length).toBe(200 * 160 * 3);
    expect(Math.max(...tiled.map((v, i) => Math.abs(v - off[i])))).toBeLessThanOrEqual(1);
  });

  it('--help documents every flag, its default and its environment variable', () => {
    const help = helpText(translateCommand);
    for (const flag of [
      '--model <name|path>',
      '--models_dir <dir>',
      '--dir <direction>',
      '--input <dir>',
      '--output <dir>',
      '--size <size>',
      '--fit <fit>',
      '--format <format>',
      '--batch_size <n>',
      '--concurrency <n>',
      '--overwrite',
      '--shard_index <i>',
      '--shard_count <n>',
      '--execution_providers <list>',
      '--threads <n>',
      '--max_pixels <n>',
      '--tile <tile>',
      '--tile_pixels <n>',
      '--tile_stats <mode>',
      '--quiet',
    ])
      expect(help).toContain(flag);
    const flat = help.replace(/\s+/g, ' ');
    for (const d of [
      '--model <name|path> model name in --models_dir, or a path to a model folder (required)',
      '--input <dir> folder of images, read recursively (hidden files skipped) (required)',
      '--output <dir> where the translated tree goes (created as needed) (required)',
      '(default: ./models) (env: MODELS_DIR)',
      '(one of: AtoB, BtoA) (default: AtoB)',
      'squashed',
      '(default: native)',
      '(default: original)',
      '(one of: auto, png, jpeg, webp) (default: auto)',
      '(default: 4)',
      '(default: 2 × batch_size + 2)',
      '(default: 0) (env: JOB_COMPLETION_INDEX)',
      '(default: 1) (env: SHARD_COUNT)',
      '(default: cuda,webgpu,cpu) (env: EXECUTION_PROVIDERS)',
      '(default: 0) (env: ORT_INTRA_OP_THREADS)',
      '(default: 16777216) (env: MAX_PIXELS)',
      '(default: auto)',
      '(default: 409600) (env: TILE_PIXELS)',
      '(one of: subsampled, downscaled, exact) (default: subsampled) (env: TILE_STATS)',
      'Usage: npm run translate -- --model <name|path> --input <dir> --output <dir> [options]',
      'kebab-case spelling (e.g. --models-dir for --models_dir, --batch-size for --batch_size)',
      'Exit status: 0 done, 1 failed, 2 bad command line, 3 some files failed (listed), 130 interrupted',
    ])
      expect(flat).toContain(d);
  });
});
