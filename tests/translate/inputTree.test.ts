/** The batch CLI's input tree, without running any model: listing it and the mirrored output names. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listInputs, outputPaths } from '../../translate/inputTree';

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

  it("with 'auto', each file keeps its format family: JPEG → .jpg, PNG → .png, WebP → .webp, lossless → .png, HEIF → .jpg", () => {
    const m = outputPaths(
      ['a/x.JPG', 'b.jpeg', 'y.webp', 'z.png', 'p.tiff', 'q.bmp', 'g.gif', 'r.heic', 's.avif'],
      'auto',
    );
    expect(Object.fromEntries(m)).toEqual({
      'a/x.JPG': 'a/x.jpg',
      'b.jpeg': 'b.jpg',
      'y.webp': 'y.webp',
      'z.png': 'z.png',
      'p.tiff': 'p.png',
      'q.bmp': 'q.png',
      'g.gif': 'g.png',
      'r.heic': 'r.jpg',
      's.avif': 's.jpg',
    });
    // x.jpg and x.jpeg would both become x.jpg: each keeps its whole name.
    const clash = outputPaths(['x.jpg', 'x.jpeg', 'x.png'], 'auto');
    expect([...clash.values()]).toEqual(['x.jpg.jpg', 'x.jpeg.jpg', 'x.png']);
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
