import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeRgb } from '../../core/image/decode';
import { makeShapesDataset, PALETTE_A, PALETTE_B } from '../../tools/make_shapes_dataset';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-shapes-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const key = (p: readonly number[]) => p.join(',');

async function pixels(file: string): Promise<string[]> {
  const img = await decodeRgb(file);
  expect([img.width, img.height]).toEqual([16, 16]);
  const out: string[] = [];
  for (let i = 0; i < img.data.length; i += 3) out.push(key(Array.from(img.data.subarray(i, i + 3))));
  return out;
}

describe('make_shapes_dataset', () => {
  const args = { size: 16, n: 6, n_test: 4, seed: 3, force: false };

  it('writes unpaired train sets and test sets with their exact translations', async () => {
    const out = path.join(tmp, 'shapes');
    await makeShapesDataset({ ...args, out });
    for (const [dir, n] of [
      ['trainA', 6],
      ['trainB', 6],
      ['testA', 4],
      ['testB', 4],
      ['testA_truth', 4],
      ['testB_truth', 4],
    ] as const) {
      expect([dir, fs.readdirSync(path.join(out, dir)).length]).toEqual([dir, n]);
    }
    const a2b = new Map(PALETTE_A.map((c, i) => [key(c), key(PALETTE_B[i])]));
    const b2a = new Map(PALETTE_B.map((c, i) => [key(c), key(PALETTE_A[i])]));
    for (let i = 0; i < 4; i++) {
      const name = `${String(i).padStart(5, '0')}.png`;
      const [ta, tat, tb, tbt] = await Promise.all(
        ['testA', 'testA_truth', 'testB', 'testB_truth'].map((d) => pixels(path.join(out, d, name))),
      );
      expect(tat).toEqual(ta.map((p) => a2b.get(p)));
      expect(tbt).toEqual(tb.map((p) => b2a.get(p)));
      expect(new Set(ta).size).toBeGreaterThan(1); // some shape is visible
    }
    // Train images use only their domain's palette; A and B scenes are different (unpaired).
    const trainA = await pixels(path.join(out, 'trainA', '00000.png'));
    const trainB = await pixels(path.join(out, 'trainB', '00000.png'));
    expect(trainA.every((p) => a2b.has(p))).toBe(true);
    expect(trainB.every((p) => b2a.has(p))).toBe(true);
    expect(trainB).not.toEqual(trainA.map((p) => a2b.get(p)));
    const info = JSON.parse(fs.readFileSync(path.join(out, 'palette.json'), 'utf8'));
    expect(info.paletteA).toEqual(PALETTE_A);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('is deterministic per seed and refuses to overwrite without --force', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const c = path.join(tmp, 'c');
    await makeShapesDataset({ ...args, out: a });
    await makeShapesDataset({ ...args, out: b });
    await makeShapesDataset({ ...args, seed: 4, out: c });
    const file = (d: string) => fs.readFileSync(path.join(d, 'trainA', '00002.png'));
    expect(file(b).equals(file(a))).toBe(true);
    expect(file(c).equals(file(a))).toBe(false);
    await expect(makeShapesDataset({ ...args, out: a })).rejects.toThrow(
      /already exists \(use --force to replace it\)/,
    );
    await makeShapesDataset({ ...args, seed: 4, out: a, force: true });
    expect(file(a).equals(file(c))).toBe(true);
  });
});
