import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  buildOpenmojiDataset,
  dropIdenticalDesigns,
  openmojiOptionsSchema,
  parseOpenmojiJson,
} from '../../../tools/datasets/openmoji';

let tmp: string;
let cache: string;

/** A 72×72 OpenMoji-like SVG: a circle whose fill differs per design (colour) or is none (black). */
function svg(i: number, color: boolean): string {
  const fill = color ? ['#e53935', '#43a047', '#1e88e5', '#fdd835'][i % 4] : 'none';
  return (
    `<svg viewBox="0 0 72 72" xmlns="http://www.w3.org/2000/svg"><circle cx="36" cy="36" r="${10 + (i % 20)}" ` +
    `fill="${fill}" stroke="#000" stroke-width="${2 + Math.floor(i / 20)}"/></svg>`
  );
}

const CODES = Array.from({ length: 40 }, (_, i) => (0x1f600 + i).toString(16).toUpperCase());

/** A fake openmoji package in the cache: 40 designs, one skin-tone variant, two identical designs. */
async function fakePackage(dir: string): Promise<void> {
  const pkg = path.join(dir, 'node_modules', 'openmoji');
  for (const d of ['data', 'color/svg', 'black/svg']) await fs.mkdir(path.join(pkg, d), { recursive: true });
  await fs.writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'openmoji', version: '17.0.0' }));
  await fs.writeFile(path.join(pkg, 'LICENSE.txt'), 'Attribution-ShareAlike 4.0 International\n');
  const entries: Record<string, unknown>[] = CODES.map((c) => ({
    hexcode: c,
    annotation: `emoji ${c}`,
    group: 'smileys-emotion',
    skintone: '',
  }));
  entries.push({ hexcode: '1F600-1F3FB', annotation: 'toned', group: 'people-body', skintone: 1 });
  await fs.writeFile(path.join(pkg, 'data', 'openmoji.json'), JSON.stringify(entries));
  for (const [i, c] of [...CODES, '1F600-1F3FB'].entries()) {
    // Designs 1F601 and 1F602 share one black drawing: both must be dropped.
    const same = c === '1F602' ? 1 : i;
    await fs.writeFile(path.join(pkg, 'color', 'svg', `${c}.svg`), svg(i, true));
    await fs.writeFile(path.join(pkg, 'black', 'svg', `${c}.svg`), svg(same, false));
  }
}

async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const sub of ['trainA', 'trainB', 'testA', 'testB'])
    for (const f of (await fs.readdir(path.join(dir, sub))).sort())
      out[`${sub}/${f}`] = createHash('sha256')
        .update(await fs.readFile(path.join(dir, sub, f)))
        .digest('hex');
  return out;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'openmoji-'));
  cache = path.join(tmp, 'cache');
  await fakePackage(cache);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const options = (out: string, extra: Record<string, unknown> = {}) =>
  openmojiOptionsSchema.parse({ out, cache, size: 32, test_fraction: 0.25, ...extra });

describe('npm run data:openmoji (on a fake package in the cache: no download)', () => {
  test('deterministic: two builds give the same files, byte for byte', async () => {
    const a = await buildOpenmojiDataset(options(path.join(tmp, 'a')));
    const b = await buildOpenmojiDataset(options(path.join(tmp, 'b')));
    expect(a.counts).toEqual(b.counts);
    expect(await hashes(path.join(tmp, 'a'))).toEqual(await hashes(path.join(tmp, 'b')));
  });

  test('splits: no design in two of trainA/trainB/test; test pairs share names; skin tones and identical designs left out', async () => {
    const dir = path.join(tmp, 'a');
    const list = async (s: string) => (await fs.readdir(path.join(dir, s))).sort();
    const [trainA, trainB, testA, testB] = await Promise.all(['trainA', 'trainB', 'testA', 'testB'].map(list));
    expect(testA).toEqual(testB);
    const all = [...trainA, ...trainB, ...testA];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(CODES.length - 2);
    expect(all).not.toContain('1f601.png');
    expect(all).not.toContain('1f602.png');
    expect(all.some((f) => f.includes('1f3fb'))).toBe(false);
    expect(testA.length).toBeGreaterThan(0);
    const info = JSON.parse(await fs.readFile(path.join(dir, 'dataset.json'), 'utf8'));
    expect(info.droppedIdentical).toEqual(['1f601', '1f602']);
    expect(await fs.readFile(path.join(dir, 'ATTRIBUTION.md'), 'utf8')).toContain('CC BY-SA 4.0');
  });

  test('PNGs are size×size RGB on white: line art in A, colour in B', async () => {
    const dir = path.join(tmp, 'a');
    const [id] = (await fs.readdir(path.join(dir, 'testA'))).sort();
    const stats = async (f: string) => {
      const { data, info } = await sharp(f).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([32, 32, 3]);
      let chroma = 0;
      for (let i = 0; i < data.length; i += 3)
        chroma = Math.max(chroma, Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]));
      return { corner: [data[0], data[1], data[2]], chroma };
    };
    const a = await stats(path.join(dir, 'testA', id));
    const b = await stats(path.join(dir, 'testB', id));
    expect(a.corner).toEqual([255, 255, 255]);
    expect(b.corner).toEqual([255, 255, 255]);
    expect(a.chroma).toBe(0);
    expect(b.chroma).toBeGreaterThan(20);
  });

  test('bad package data is a one-line error naming the entry', () => {
    expect(() => parseOpenmojiJson({}, 'x.json')).toThrow('x.json: expected an array');
    expect(() => parseOpenmojiJson([{ hexcode: '1F600 X' }], 'x.json')).toThrow("x.json: entry 0: 'hexcode'");
    expect(() => parseOpenmojiJson([{ hexcode: '1F600' }, { hexcode: '1f600' }], 'x.json')).toThrow(
      'x.json: 1f600 is listed twice',
    );
    expect(dropIdenticalDesigns([{ id: 'a' }, { id: 'b' }], (d) => d.id).dropped).toEqual([]);
  });
});
