import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeBmp } from '../../../core/image/bmp';
import { decodeRgb, UnusableImageError } from '../../../core/image/decode';
import { isImageFile, listImages, listUnalignedFolders } from '../../../train/data/imageFolder';

const FIX = path.join(__dirname, '..', '..', 'fixtures', 'data');
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-folder-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function touch(rel: string, content = 'x'): string {
  const p = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return p;
}

async function png(rel: string, rgb: number[], width = 2, height = 1, channels: 1 | 3 | 4 = 3): Promise<string> {
  const p = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  await sharp(Buffer.from(rgb), { raw: { width, height, channels } }).png().toFile(p);
  return p;
}

describe('listImages', () => {
  it('lists image files recursively, any extension case, sorted by path', async () => {
    for (const f of ['b.png', 'a.JPG', 'sub/c.jpeg', 'sub/deeper/d.webp', 'e.bmp', 'f.TIF', 'g.tiff', 'B.Png'])
      touch(`d/${f}`);
    for (const f of ['notes.txt', 'h.gif', 'png', 'sub/.hidden.txt']) touch(`d/${f}`);
    const files = (await listImages(path.join(tmp, 'd'))).map((f) => path.relative(path.join(tmp, 'd'), f));
    expect(files).toEqual(['B.Png', 'a.JPG', 'b.png', 'e.bmp', 'f.TIF', 'g.tiff', 'sub/c.jpeg', 'sub/deeper/d.webp']);
    expect(isImageFile('x.JpEg')).toBe(true);
    expect(isImageFile('x.gif')).toBe(false);
  });

  it('keeps the first max_dataset_size files in sorted order', async () => {
    for (const f of ['z.png', 'm.png', 'a.png', 'k.png']) touch(`d/${f}`);
    const files = await listImages(path.join(tmp, 'd'), 2);
    expect(files.map((f) => path.basename(f))).toEqual(['a.png', 'k.png']);
  });

  it('follows symlinked folders without looping', async () => {
    touch('real/x.png');
    fs.mkdirSync(path.join(tmp, 'd'));
    fs.symlinkSync(path.join(tmp, 'real'), path.join(tmp, 'd', 'link'));
    fs.symlinkSync(path.join(tmp, 'd'), path.join(tmp, 'd', 'loop'));
    const files = await listImages(path.join(tmp, 'd'));
    expect(files.map((f) => path.relative(tmp, f))).toEqual(['d/link/x.png']);
  });
});

describe('listUnalignedFolders', () => {
  it('returns both domains', async () => {
    touch('ds/trainA/1.png');
    touch('ds/trainA/2.png');
    touch('ds/trainB/1.jpg');
    const { A, B } = await listUnalignedFolders(path.join(tmp, 'ds'));
    expect([A.length, B.length]).toEqual([2, 1]);
  });

  it('fails in one line when dataroot, a folder or its images are missing', async () => {
    const root = path.join(tmp, 'ds');
    await expect(listUnalignedFolders(root)).rejects.toThrow(`--dataroot '${root}' is not a folder`);
    touch('ds/trainA/1.png');
    await expect(listUnalignedFolders(root)).rejects.toThrow(
      `'${path.join(root, 'trainB')}' is missing: --dataroot needs subfolders trainA and trainB with images`,
    );
    touch('ds/trainB/readme.txt');
    const err = await listUnalignedFolders(root).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/trainB' has no images \(looked for \.jpg .*\.tiff, in subfolders too\)$/);
    expect((err as Error).message).not.toContain('\n');
    touch('ds/testA/1.png');
    await expect(listUnalignedFolders(root, 'test')).rejects.toThrow(/testB' is missing/);
  });
});

describe('decodeRgb', () => {
  it('decodes PNG to 8-bit RGB, expanding grayscale and dropping alpha', async () => {
    const rgb = await decodeRgb(await png('rgb.png', [1, 2, 3, 4, 5, 6]));
    expect([rgb.width, rgb.height, rgb.channels, Array.from(rgb.data)]).toEqual([2, 1, 3, [1, 2, 3, 4, 5, 6]]);
    const gray = await decodeRgb(await png('g.png', [10, 200], 2, 1, 1));
    expect(Array.from(gray.data)).toEqual([10, 10, 10, 200, 200, 200]);
    const rgba = await decodeRgb(await png('a.png', [10, 20, 30, 0, 40, 50, 60, 255], 2, 1, 4));
    expect(Array.from(rgba.data)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('rejects truncated and non-image files with UnusableImageError', async () => {
    const good = fs.readFileSync(
      await png(
        'big.png',
        Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 31) % 256),
        64,
        64,
      ),
    );
    const truncated = touch('trunc.png', '');
    fs.writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
    const text = touch('text.jpg', 'this is not a jpeg at all');
    for (const f of [truncated, text, path.join(tmp, 'missing.png')]) {
      const e = await decodeRgb(f).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(UnusableImageError);
      expect((e as UnusableImageError).file).toBe(f);
      expect((e as Error).message).not.toContain('\n');
    }
  });
});

describe('BMP', () => {
  it.each(['24', '24topdown', '32', '8gray', '8pal'])(
    'decodes bmp_%s.bmp (written by PIL) to the pixels PIL reads',
    async (kind) => {
      const ours = await decodeRgb(path.join(FIX, `bmp_${kind}.bmp`));
      const truth = await decodeRgb(path.join(FIX, `bmp_${kind === '24topdown' ? '24' : kind}.png`));
      expect([ours.width, ours.height]).toEqual([7, 5]);
      expect(Array.from(ours.data)).toEqual(Array.from(truth.data));
    },
  );

  it('rejects unsupported and truncated BMPs with a reason', async () => {
    const buf = fs.readFileSync(path.join(FIX, 'bmp_24.bmp'));
    const rle = Buffer.from(buf);
    rle.writeUInt16LE(4, 28); // 4-bit
    rle.writeUInt32LE(2, 30); // BI_RLE4
    expect(() => decodeBmp(rle)).toThrow('unsupported BMP encoding (4-bit, compression 2)');
    expect(() => decodeBmp(buf.subarray(0, buf.length - 10))).toThrow('truncated BMP pixel data');
    const f = touch('cut.bmp');
    fs.writeFileSync(f, buf.subarray(0, 30));
    await expect(decodeRgb(f)).rejects.toThrow(UnusableImageError);
  });
});
