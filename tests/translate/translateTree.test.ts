/**
 * Batch translation of a folder tree on real onnxruntime sessions (tiny random-weight ResNet
 * generators from tests/helpers/tinyModel.ts): mirrored outputs, formats, restart and
 * --overwrite, atomic writes, bad files, batching, sharding, and byte-equality with what
 * POST /translate answers for the same file and options.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import type { OutputFormat } from '../../core/image/formats';
import { parseSizeMode } from '../../inference/preprocess';
import { outputPaths, type TreeFormat } from '../../translate/inputTree';
import { TranslateError } from '../../translate/modelFolder';
import { selectShard } from '../../translate/shard';
import { translateTree, type TreeOptions } from '../../translate/translateTree';
import { noiseImage, writeTinyModel } from '../helpers/tinyModel';

let tmp: string;
let models: string;
let input: string;
let outCount = 0;

/** Images of several sizes and formats in nested folders, plus files that must fail or be ignored. */
const GOOD: [string, number, number, 'png' | 'jpeg' | 'webp'][] = [
  ['top.png', 40, 30, 'png'],
  ['a/one.jpg', 36, 36, 'jpeg'],
  ['a/b/two.webp', 33, 50, 'webp'],
  ['a/b/three.png', 64, 48, 'png'],
  ['c/four.jpeg', 20, 28, 'jpeg'],
  ['c/top.png', 40, 30, 'png'],
];
const BAD = ['a/truncated.png', 'c/garbage.jpg', 'c/empty.webp'];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'translate-run-'));
  models = path.join(tmp, 'models');
  await writeTinyModel(models, { name: 'tiny' });
  await writeTinyModel(models, { name: 'gray', inputNc: 1, outputNc: 1, directions: ['AtoB'] });
  input = path.join(tmp, 'in');
  for (const [i, [rel, w, h, fmt]] of GOOD.entries()) {
    await fs.mkdir(path.dirname(path.join(input, rel)), { recursive: true });
    await fs.writeFile(path.join(input, rel), await noiseImage(w, h, fmt, 100 + i));
  }
  const png = await noiseImage(48, 48, 'png', 9);
  await fs.writeFile(path.join(input, 'a/truncated.png'), png.subarray(0, png.length >> 1));
  await fs.writeFile(path.join(input, 'c/garbage.jpg'), Buffer.from('this is not a jpeg at all'));
  await fs.writeFile(path.join(input, 'c/empty.webp'), Buffer.alloc(0));
  await fs.writeFile(path.join(input, 'c/notes.txt'), 'ignored');
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function newOutput(): string {
  return path.join(tmp, `out${++outCount}`);
}

function options(over: Partial<TreeOptions> = {}): TreeOptions {
  return {
    model: 'tiny',
    modelsDir: models,
    direction: 'AtoB',
    input,
    output: newOutput(),
    size: { kind: 'native' },
    fit: 'original',
    format: 'png',
    overwrite: false,
    shard: { index: 0, count: 1 },
    engine: { executionProviders: ['cpu'], threads: 1, batchSize: 4, concurrency: 6, maxPixels: 4096 * 4096 },
    ...over,
  };
}

/** Every file under `root`, relative, hidden ones included. */
async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(root, { recursive: true, withFileTypes: true }))
    if (e.isFile()) out.push(path.relative(root, path.join(e.parentPath, e.name)));
  return out.sort();
}

const expectedOutputs = (format: OutputFormat) => {
  const all = outputPaths([...GOOD.map((g) => g[0]), ...BAD].sort(), format);
  return GOOD.map(([rel]) => all.get(rel)!).sort();
};

describe('translateTree', () => {
  let firstOut: string;

  it('writes a mirrored tree, reports bad files with reasons and carries on', async () => {
    const o = options();
    firstOut = o.output;
    const first = await translateTree(o);
    expect(first.done).toBe(GOOD.length);
    expect(first.skipped).toBe(0);
    expect(first.ignored).toBe(1);
    expect(first.files).toBe(GOOD.length + BAD.length);
    expect(first.failed.map((f) => f.file).sort()).toEqual([...BAD].sort());
    for (const f of first.failed) expect(f.reason).toMatch(/not a decodable image|could not be decoded/);
    expect(first.interrupted).toBe(false);
    expect(first.imagesPerSecond).toBeGreaterThan(0);
    expect(first.provider).toBe('cpu');

    // Mirrored folders; nothing else (no temp files) in the output tree.
    expect(await filesUnder(o.output)).toEqual(expectedOutputs('png'));
    expect(await filesUnder(o.output)).toEqual(
      ['a/b/three.png', 'a/b/two.png', 'a/one.png', 'c/four.png', 'c/top.png', 'top.png'].sort(),
    );
    // fit=original: each output has its input's size.
    for (const [rel, w, h] of GOOD) {
      const meta = await sharp(path.join(o.output, rel.replace(/\.[^.]+$/, '.png'))).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', w, h]);
    }
  });

  it('skips finished files on a second run and redoes them with overwrite', async () => {
    const target = path.join(firstOut, 'a/one.png');
    const good = await fs.readFile(target);
    await fs.writeFile(target, 'stale'); // stands for an output from an older model
    const again = await translateTree(options({ output: firstOut }));
    expect(again.done).toBe(0);
    expect(again.skipped).toBe(GOOD.length);
    expect(again.failed.length).toBe(BAD.length); // failures are retried, and fail again
    expect(await fs.readFile(target, 'utf8')).toBe('stale');

    const redo = await translateTree(options({ output: firstOut, overwrite: true }));
    expect(redo.done).toBe(GOOD.length);
    expect(redo.skipped).toBe(0);
    expect((await fs.readFile(target)).equals(good)).toBe(true);
    expect(await filesUnder(firstOut)).toEqual(expectedOutputs('png'));
  });

  it('writes each format, at the processing size with fit=model', async () => {
    for (const format of ['jpeg', 'webp'] as const) {
      const o = options({ format, fit: 'model', size: parseSizeMode('48') });
      const s = await translateTree(o);
      expect(s.done).toBe(GOOD.length);
      expect(await filesUnder(o.output)).toEqual(expectedOutputs(format));
      const meta = await sharp(path.join(o.output, format === 'jpeg' ? 'a/b/three.jpg' : 'a/b/three.webp')).metadata();
      // 64×48 with the long side at 48 → 48×36, both multiples of 4.
      expect([meta.format, meta.width, meta.height]).toEqual([format, 48, 36]);
    }
  });

  it('gives byte for byte what POST /translate answers for the same file and options', async () => {
    const config = loadConfig({}, { MODELS_DIR: models, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
    const repo = new ModelRepository(config, pino({ level: 'silent' }));
    await repo.load();
    const app = createApp(config, repo, { logger: pino({ level: 'silent' }) });
    try {
      const cases: {
        model: string;
        dir: 'AtoB' | 'BtoA';
        size: string;
        fit: 'original' | 'model';
        format: TreeFormat;
      }[] = [
        { model: 'tiny', dir: 'AtoB', size: 'native', fit: 'original', format: 'png' },
        { model: 'tiny', dir: 'BtoA', size: 'original', fit: 'original', format: 'jpeg' },
        { model: 'tiny', dir: 'AtoB', size: '44', fit: 'model', format: 'webp' },
        { model: 'gray', dir: 'AtoB', size: 'original', fit: 'original', format: 'png' },
        // Without format= the server answers in the input's family; --format auto writes the same.
        { model: 'tiny', dir: 'AtoB', size: 'native', fit: 'original', format: 'auto' },
      ];
      for (const c of cases) {
        const o = options({
          model: c.model,
          direction: c.dir,
          size: parseSizeMode(c.size),
          fit: c.fit,
          format: c.format,
        });
        const s = await translateTree(o);
        expect(s.done).toBe(GOOD.length);
        const names = outputPaths([...GOOD.map((g) => g[0]), ...BAD].sort(), c.format);
        for (const [rel] of GOOD) {
          const format = c.format === 'auto' ? '' : `&format=${c.format}`;
          const res = await request(app)
            .post(`/translate?model=${c.model}&dir=${c.dir}&size=${c.size}&fit=${c.fit}${format}`)
            .attach('image', await fs.readFile(path.join(input, rel)), path.basename(rel));
          expect(res.status).toBe(200);
          if (c.format === 'auto') {
            const inputFormat = GOOD.find((g) => g[0] === rel)![3];
            expect((await sharp(path.join(o.output, names.get(rel)!)).metadata()).format).toBe(inputFormat);
          }
          const written = await fs.readFile(path.join(o.output, names.get(rel)!));
          expect(written.equals(res.body as Buffer)).toBe(true);
        }
      }
    } finally {
      await repo.close();
    }
  });

  it('batches images of equal processed size, with the same pixels as one at a time', async () => {
    const run = async (over: Partial<TreeOptions>, engine: Partial<TreeOptions['engine']>) => {
      const o = options({ ...over, engine: { ...options().engine, ...engine } });
      const s = await translateTree(o);
      expect(s.done).toBe(GOOD.length);
      const files = await filesUnder(o.output);
      return { s, bytes: await Promise.all(files.map((f) => fs.readFile(path.join(o.output, f)))) };
    };
    const one = await run({}, { batchSize: 1, concurrency: 1 });
    expect(one.s.meanBatchSize).toBe(1);
    // A long batch delay: a batch runs once full, or when nothing else can arrive in time.
    const many = await run({}, { batchSize: 3, concurrency: 8, batchDelayMs: 1000 });
    expect(many.s.meanBatchSize).toBe(3);
    expect(many.s.batches).toBe(GOOD.length / 3);
    // size=original: shapes differ (only the two 40×30 images share one), and batches never mix them.
    const mixedOne = await run({ size: { kind: 'original' } }, { batchSize: 1, concurrency: 1 });
    const mixedMany = await run({ size: { kind: 'original' } }, { batchSize: 4, concurrency: 8, batchDelayMs: 1000 });
    expect(mixedMany.s.batches).toBe(GOOD.length - 1);

    for (const [a, b] of [
      [one, many],
      [mixedOne, mixedMany],
    ]) {
      expect(b.bytes.length).toBe(a.bytes.length);
      for (const [i, x] of a.bytes.entries()) expect(b.bytes[i].equals(x)).toBe(true);
    }
    // Different inputs gave different outputs (a batch mix-up could not look right by accident).
    expect(new Set(many.bytes.map((b) => b.toString('base64'))).size).toBe(GOOD.length);
  });

  it('stops on abort with only complete outputs, and a second run finishes the rest', async () => {
    const o = options({ engine: { ...options().engine, batchSize: 1, concurrency: 1 } });
    const abort = new AbortController();
    const stopped = await translateTree({
      ...o,
      signal: abort.signal,
      onFile: (f) => {
        if (f.status === 'done') abort.abort();
      },
    });
    expect(stopped.interrupted).toBe(true);
    expect(stopped.done).toBe(1);
    const partial = await filesUnder(o.output);
    expect(partial.length).toBe(1);
    await sharp(path.join(o.output, partial[0])).stats(); // decodes completely

    const rest = await translateTree(o);
    expect(rest.interrupted).toBe(false);
    expect(rest.skipped).toBe(1);
    expect(rest.done).toBe(GOOD.length - 1);
    expect(await filesUnder(o.output)).toEqual(expectedOutputs('png'));
  });

  it('reports an output that cannot be written, leaving no temp file behind', async () => {
    const o = options();
    // A folder where top.png should go: the final rename fails.
    await fs.mkdir(path.join(o.output, 'top.png'), { recursive: true });
    const s = await translateTree(o);
    expect(s.done).toBe(GOOD.length - 1);
    const f = s.failed.find((x) => x.file === 'top.png');
    expect(f?.reason).toMatch(/^cannot write .*top\.png \(E[A-Z]+\)$/);
    const files = await filesUnder(o.output);
    expect(files.filter((x) => x.endsWith('.tmp'))).toEqual([]);
    expect(files).toEqual(expectedOutputs('png').filter((x) => x !== 'top.png'));
  });

  it('splits the work over shards: disjoint, complete, the same outputs as one run', async () => {
    const shared = newOutput();
    const counts: number[] = [];
    const all = [...GOOD.map((g) => g[0]), ...BAD].sort();
    for (let index = 0; index < 3; index++) {
      const s = await translateTree(options({ output: shared, shard: { index, count: 3 } }));
      expect(s.inTree).toBe(all.length);
      expect(s.files).toBe(selectShard(all, { index, count: 3 }).length);
      expect(s.skipped).toBe(0); // no shard touched another's files
      counts.push(s.files);
    }
    expect(counts.reduce((a, b) => a + b)).toBe(all.length);
    const files = await filesUnder(shared);
    expect(files).toEqual(expectedOutputs('png'));
    for (const f of files)
      expect((await fs.readFile(path.join(shared, f))).equals(await fs.readFile(path.join(firstOut, f)))).toBe(true);
  });

  it('leaves an output folder inside the input folder out of the inputs', async () => {
    const own = path.join(tmp, 'in-with-out');
    await fs.mkdir(own);
    await fs.copyFile(path.join(input, 'top.png'), path.join(own, 'p.png'));
    await fs.copyFile(path.join(input, 'a/one.jpg'), path.join(own, 'q.jpg'));
    const o = options({ input: own, output: path.join(own, 'translated') });
    expect((await translateTree(o)).done).toBe(2);
    const again = await translateTree(o);
    expect([again.files, again.skipped, again.done]).toEqual([2, 2, 0]);
    expect(await filesUnder(own)).toEqual(['p.png', 'q.jpg', 'translated/p.png', 'translated/q.png']);
  });

  it('fails with one line for a missing input, model or direction, and a model that does not load', async () => {
    const fails = async (o: TreeOptions, re: RegExp) => {
      const e = await translateTree(o).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(TranslateError);
      expect((e as Error).message).toMatch(re);
      expect((e as Error).message).not.toContain('\n');
    };
    await fails(options({ input: path.join(tmp, 'nope') }), /^input folder .*nope does not exist$/);
    await fails(options({ model: 'zebra' }), /^no model 'zebra' in .*\(models there: gray, tiny\)$/);
    await fails(options({ model: 'gray', direction: 'BtoA' }), /^model 'gray' has no BtoA generator/);
    await fails(options({ output: input }), /--output must differ from --input/);
    await fails(options({ shard: { index: 2, count: 2 } }), /shard index must be an integer from 0 to 1, got 2 \(/);
    const file = path.join(tmp, 'a-file');
    await fs.writeFile(file, '');
    await fails(options({ output: file }), /^output folder .*a-file cannot be created \(EEXIST\)$/);
    const broken = path.join(tmp, 'broken');
    await writeTinyModel(broken, { name: 'broken', directions: ['AtoB'] });
    await fs.writeFile(path.join(broken, 'broken', 'AtoB.onnx'), 'not onnx');
    await fails(options({ model: path.join(broken, 'broken') }), /^model .*broken could not be loaded: cpu: /);
  });
});
