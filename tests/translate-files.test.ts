/**
 * The batch CLI's file handling, without running any model: listing the input tree, mirrored
 * output names, sharding, and finding the model folder.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { parseSizeMode, SIZE_PATTERN } from '../inference/preprocess';
import { listInputs, outputPaths } from '../translate/inputTree';
import { checkDirection, resolveModel, TranslateError } from '../translate/modelFolder';
import { selectShard, shardOf } from '../translate/shard';
import { writeTinyModel } from './helpers/tinyModel';

const OPENAPI_FILE = path.join(__dirname, '..', 'openapi.yaml');

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'translate-files-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function touch(root: string, rel: string): Promise<void> {
  await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await fs.writeFile(path.join(root, rel), rel);
}

describe('listInputs', () => {
  it('lists images recursively, sorted, with POSIX relative paths; skips hidden entries, others counted as ignored', async () => {
    const root = path.join(tmp, 'tree');
    const images = ['b.PNG', 'a/z.jpg', 'a/b/c/deep.webp', 'a-b/x.jpeg', 'gif/g.gif', 'tiff/t.TIF'];
    for (const f of [...images, 'notes.txt', 'a/b/raw.bin', '.hidden.png', '.cache/x.png', 'a/.x.png.123.tmp'])
      await touch(root, f);
    await fs.symlink(path.join(root, 'b.PNG'), path.join(root, 'link.png'));
    await fs.symlink(path.join(root, 'a'), path.join(root, 'loop'));
    const r = await listInputs(root);
    expect(r.images).toEqual([...images, 'link.png'].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    expect(r.ignored).toBe(2);
  });

  it('leaves out the excluded folder (an output folder inside the input)', async () => {
    const root = path.join(tmp, 'nested');
    await touch(root, 'in.png');
    await touch(root, 'out/in.png');
    await touch(root, 'outside/in.png');
    expect((await listInputs(root, path.join(root, 'out'))).images).toEqual(['in.png', 'outside/in.png']);
    expect((await listInputs(root)).images).toEqual(['in.png', 'out/in.png', 'outside/in.png']);
  });
});

describe('outputPaths', () => {
  it('mirrors folders and replaces the extension with the format’s', () => {
    const m = outputPaths(['a/b/x.jpg', 'y.webp', 'z.png', 'noext.d/p.tiff'], 'png');
    expect([...m]).toEqual([
      ['a/b/x.jpg', 'a/b/x.png'],
      ['y.webp', 'y.png'],
      ['z.png', 'z.png'],
      ['noext.d/p.tiff', 'noext.d/p.png'],
    ]);
    expect(outputPaths(['a/x.png'], 'jpeg').get('a/x.png')).toBe('a/x.jpg');
    expect(outputPaths(['a/x.png'], 'webp').get('a/x.png')).toBe('a/x.webp');
  });

  it('gives every input its own output when names would collide, keeping the others short', () => {
    const inputs = ['p/x.jpg', 'p/x.png', 'p/x.jpg.png', 'q/x.jpg', 'p/y.gif'];
    const m = outputPaths(inputs, 'png');
    expect(new Set(m.values()).size).toBe(inputs.length);
    expect(m.get('q/x.jpg')).toBe('q/x.png');
    expect(m.get('p/y.gif')).toBe('p/y.png');
    expect(m.get('p/x.jpg')).toBe('p/x.jpg.png');
    expect(m.get('p/x.png')).toBe('p/x.png.png');
    // Its short name x.jpg.png is taken by x.jpg's long name, so it is lengthened too.
    expect(m.get('p/x.jpg.png')).toBe('p/x.jpg.png.png');
    for (const [rel, out] of m) expect(path.posix.dirname(out)).toBe(path.posix.dirname(rel));
  });
});

describe('sharding', () => {
  const files = Array.from({ length: 1000 }, (_, i) => `set${i % 7}/img_${String(i).padStart(4, '0')}.jpg`);

  it('splits into disjoint shards whose union is every file, each share about 1/n', () => {
    for (const n of [1, 2, 3, 8]) {
      const shards = Array.from({ length: n }, (_, i) => selectShard(files, { index: i, count: n }));
      const all = shards.flat();
      expect(all.length).toBe(files.length);
      expect(new Set(all)).toEqual(new Set(files));
      for (const s of shards) expect(Math.abs(s.length - files.length / n)).toBeLessThan((files.length / n) * 0.25);
    }
  });

  it('depends only on the path: same shard in any order and when other files are added', () => {
    const shuffled = [...files].reverse();
    const more = [...files, ...Array.from({ length: 300 }, (_, i) => `new/${i}.png`)];
    const a = selectShard(files, { index: 2, count: 5 });
    expect(new Set(selectShard(shuffled, { index: 2, count: 5 }))).toEqual(new Set(a));
    expect(selectShard(more, { index: 2, count: 5 }).filter((f) => !f.startsWith('new/'))).toEqual(a);
  });

  it('is sha256(path) mod n over the first 48 bits, the same on every machine', () => {
    // Reference values from Python: int.from_bytes(hashlib.sha256(p.encode()).digest()[:6], 'big') % n
    expect(shardOf('a/b.png', 7)).toBe(5);
    expect(shardOf('photos/2021/IMG_0001.jpg', 4)).toBe(0);
    expect(shardOf('x.png', 3)).toBe(1);
    expect(shardOf('ü/ß.png', 5)).toBe(0);
  });

  it('rejects an index outside the count', () => {
    expect(() => selectShard(files, { index: 3, count: 3 })).toThrow('shard index must be an integer from 0 to 2');
    expect(() => selectShard(files, { index: 0, count: 0 })).toThrow('shard count must be a positive integer');
  });
});

describe('resolveModel', () => {
  let models: string;
  beforeAll(async () => {
    models = path.join(tmp, 'models');
    // Folder name and manifest name differ: the server knows this model as 'horse2zebra'.
    await writeTinyModel(models, { name: 'h2z-folder', directions: ['AtoB'] });
    const file = path.join(models, 'h2z-folder', 'model.json');
    const m = JSON.parse(await fs.readFile(file, 'utf8'));
    await fs.writeFile(file, JSON.stringify({ ...m, name: 'horse2zebra' }));
    await writeTinyModel(models, { name: 'other' });
    await fs.mkdir(path.join(models, 'not-a-model'));
  });

  it('finds a model by its manifest name, by folder name, or by path', async () => {
    const byName = await resolveModel('horse2zebra', models);
    expect(byName.dir).toBe(path.join(models, 'h2z-folder'));
    expect(byName.manifest.name).toBe('horse2zebra');
    expect((await resolveModel('h2z-folder', models)).dir).toBe(path.join(models, 'h2z-folder'));
    expect((await resolveModel(path.join(models, 'other'), '/nonexistent')).manifest.name).toBe('other');
  });

  it('says what is wrong in one line', async () => {
    const fails = async (p: Promise<unknown>, re: RegExp) => {
      const e = await p.then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(TranslateError);
      expect((e as Error).message).toMatch(re);
      expect((e as Error).message).not.toContain('\n');
    };
    await fails(resolveModel('zebra', models), /^no model 'zebra' in .*models \(models there: horse2zebra, other\)$/);
    await fails(resolveModel('zebra', path.join(tmp, 'nope')), /models directory .*nope does not exist/);
    await fails(resolveModel(path.join(models, 'missing'), models), /model folder .*missing does not exist/);
    await fails(resolveModel(path.join(models, 'not-a-model'), models), /not a model folder \(no model\.json\)/);
    const m = await resolveModel('horse2zebra', models);
    expect(() => checkDirection(m, 'BtoA')).toThrow("model 'horse2zebra' has no BtoA generator (directions: AtoB)");
    expect(() => checkDirection(m, 'AtoB')).not.toThrow();
  });
});

describe('parseSizeMode (shared by POST /translate and --size)', () => {
  it('accepts exactly what the API’s size parameter allows', () => {
    const spec = YAML.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    const params: { name: string; schema: { pattern?: string } }[] = spec.paths['/translate'].post.parameters;
    expect(params.find((p) => p.name === 'size')!.schema.pattern).toBe(SIZE_PATTERN.source);
    expect(parseSizeMode('native')).toEqual({ kind: 'native' });
    expect(parseSizeMode('original')).toEqual({ kind: 'original' });
    expect(parseSizeMode('512')).toEqual({ kind: 'long-side', side: 512 });
    for (const bad of ['', '0', '-5', '12.5', '100000', 'Native', ' 256'])
      expect(() => parseSizeMode(bad)).toThrow(`size must be native, original or a long side of 1-99999 pixels`);
  });
});
