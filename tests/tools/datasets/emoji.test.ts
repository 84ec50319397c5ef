import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { buildEmojiDataset, EMOJI_DATASOURCE_VERSION } from '../../../tools/datasets/emoji';
import {
  assignSplit,
  dropDuplicateImages,
  pairEmoji,
  parseEmojiJson,
  splitEmoji,
  type EmojiEntry,
  type PairedEmoji,
} from '../../../tools/datasets/emojiSplit';

/** A fake emoji.json entry; the packages carry many more fields, which the parser ignores. */
function entry(unified: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `EMOJI ${unified}`,
    unified,
    non_qualified: null,
    image: `${unified.toLowerCase()}.png`,
    short_name: `e_${unified.toLowerCase()}`,
    category: 'Smileys & Emotion',
    sort_order: 1,
    has_img_apple: true,
    has_img_twitter: true,
    has_img_google: true,
    has_img_facebook: false,
    ...extra,
  };
}

/** n distinct code points, in the packages' upper-case spelling. */
function fakeIds(n: number, start = 0x1f300): string[] {
  return Array.from({ length: n }, (_, i) => (start + i).toString(16).toUpperCase());
}

function paired(n: number, start?: number): PairedEmoji[] {
  const entries = parseEmojiJson(
    fakeIds(n, start).map((u) => entry(u)),
    'fake',
  );
  return pairEmoji(entries, entries);
}

const SPLIT = { testFraction: 0.1, salt: 'twemoji2noto' };

describe('emoji.json parsing and pairing', () => {
  test('rejects entries that are not emoji with a plain image name, naming the entry', () => {
    expect(() => parseEmojiJson({}, 'x/emoji.json')).toThrow('x/emoji.json: expected an array');
    expect(() => parseEmojiJson([entry('1F600'), entry('1F601', { image: '../up.png' })], 'x')).toThrow(
      "x: entry 1: 'image' must be a plain .png file name",
    );
    expect(() => parseEmojiJson([entry('1F600 1F601')], 'x')).toThrow("entry 0: 'unified'");
  });

  test('keeps emoji with an image in both packages, base entries only, by lower-case id', () => {
    const twitter = parseEmojiJson(
      [
        entry('1F600'),
        entry('1F44B', {
          skin_variations: {
            '1F3FB': { unified: '1F44B-1F3FB', image: '1f44b-1f3fb.png', has_img_twitter: true, has_img_google: true },
          },
        }),
        entry('0023-FE0F-20E3'),
        entry('1FAE8', { has_img_twitter: false }), // no Twemoji drawing
        entry('1F1E8-1F1F6'),
      ],
      'twitter',
    );
    const google = parseEmojiJson(
      [
        entry('1F600'),
        entry('1F44B'),
        entry('0023-FE0F-20E3'),
        entry('1FAE8'),
        entry('1F1E8-1F1F6', { has_img_google: false }), // no Noto drawing
      ],
      'google',
    );
    const both = pairEmoji(twitter, google);
    expect(both.map((e) => e.id)).toEqual(['0023-fe0f-20e3', '1f44b', '1f600']);
    expect(both[1]).toEqual({
      id: '1f44b',
      name: 'e_1f44b',
      category: 'Smileys & Emotion',
      image: { twitter: '1f44b.png', google: '1f44b.png' },
    });
    expect(() => pairEmoji([...twitter, twitter[0]], google)).toThrow('twitter emoji.json lists 1F600 twice');
  });

  test('drops every emoji whose image duplicates another one of the same vendor', () => {
    const list = paired(5);
    const [a, b, c, d] = list.map((e) => e.id);
    // Vendor google draws a and b the same (a fallback), twitter draws c and d the same (look-alikes).
    const digest = (e: PairedEmoji, vendor: string) =>
      vendor === 'google' && e.id === b
        ? `google/${a}`
        : vendor === 'twitter' && e.id === d
          ? `twitter/${c}`
          : `${vendor}/${e.id}`;
    const { kept, dropped } = dropDuplicateImages(list, digest);
    expect(kept.map((e) => e.id)).toEqual([list[4].id]);
    expect(dropped).toEqual([
      { id: a, vendor: 'google', sameAs: [b] },
      { id: b, vendor: 'google', sameAs: [a] },
      { id: c, vendor: 'twitter', sameAs: [d] },
      { id: d, vendor: 'twitter', sameAs: [c] },
    ]);
  });
});

describe('emoji split', () => {
  const all = paired(2000);
  const split = splitEmoji(all, SPLIT);
  const ids = (xs: PairedEmoji[]) => new Set(xs.map((e) => e.id));

  test('partitions the emoji: train sets disjoint, test in neither, nothing lost', () => {
    const [a, b, t] = [ids(split.trainA), ids(split.trainB), ids(split.test)];
    for (const id of a) expect(b.has(id) || t.has(id)).toBe(false);
    for (const id of b) expect(t.has(id)).toBe(false);
    expect(a.size + b.size + t.size).toBe(all.length);
  });

  test('sizes follow the fractions: ~10% test, the rest halved', () => {
    expect(split.test.length).toBeGreaterThan(150);
    expect(split.test.length).toBeLessThan(250);
    const train = split.trainA.length + split.trainB.length;
    expect(Math.abs(split.trainA.length - split.trainB.length)).toBeLessThan(0.1 * train);
    expect(splitEmoji(all, { ...SPLIT, testFraction: 0 }).test).toEqual([]);
  });

  test('is deterministic, ignores input order, and each emoji keeps its place when others are added', () => {
    expect(splitEmoji(all, SPLIT)).toEqual(split);
    const shuffled = [...all].reverse();
    const again = splitEmoji(shuffled, SPLIT);
    for (const k of ['trainA', 'trainB', 'test'] as const) expect(ids(again[k])).toEqual(ids(split[k]));
    const grown = splitEmoji([...all, ...paired(300, 0x20000)], SPLIT);
    for (const k of ['trainA', 'trainB', 'test'] as const) {
      expect([...ids(split[k])].every((id) => ids(grown[k]).has(id))).toBe(true);
      expect(split[k].every((e) => assignSplit(e.id, SPLIT) === k)).toBe(true);
    }
  });

  test('a different salt gives a different split; bad fractions and repeated ids are refused', () => {
    const other = splitEmoji(all, { ...SPLIT, salt: 'another' });
    expect(ids(other.test)).not.toEqual(ids(split.test));
    expect(() => assignSplit('1f600', { ...SPLIT, testFraction: 1 })).toThrow('test fraction 1 is not in [0, 1)');
    expect(() => splitEmoji([all[0], all[0]], SPLIT)).toThrow(`emoji ${all[0].id} is listed twice`);
  });
});

describe('npm run data:emoji (offline, from a pre-filled package cache)', () => {
  let tmp: string;
  const N = 60;

  /** A stand-in for the installed npm package: package.json, emoji.json and RGBA 64×64 images. */
  async function fakePackage(cache: string, vendor: 'twitter' | 'google', entries: EmojiEntry[]) {
    const dir = path.join(cache, 'node_modules', `emoji-datasource-${vendor}`);
    const img = path.join(dir, 'img', vendor, '64');
    await fs.mkdir(img, { recursive: true });
    await fs.writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: `emoji-datasource-${vendor}`, version: EMOJI_DATASOURCE_VERSION }),
    );
    await fs.writeFile(path.join(dir, 'LICENSE'), 'The MIT License (MIT)\n');
    await fs.writeFile(path.join(dir, 'emoji.json'), JSON.stringify(entries));
    for (const [i, e] of entries.entries()) {
      // Transparent background, an opaque square whose colour encodes vendor and index.
      const rgba = Buffer.alloc(64 * 64 * 4);
      for (let y = 16; y < 48; y++)
        for (let x = 16; x < 48; x++) rgba.set([vendor === 'twitter' ? 10 : 200, i, 50, 255], (y * 64 + x) * 4);
      await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } })
        .png()
        .toFile(path.join(img, e.image));
    }
  }

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'emoji-data-'));
    const entries = fakeIds(N).map((u) => entry(u) as EmojiEntry);
    await fakePackage(path.join(tmp, 'cache'), 'twitter', entries);
    await fakePackage(path.join(tmp, 'cache'), 'google', entries);
  });
  afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

  test('writes trainA/trainB/testA/testB as the split says, RGB on white, with attribution', async () => {
    const out = path.join(tmp, 'datasets', 'twemoji2noto');
    await fs.mkdir(out, { recursive: true });
    await fs.writeFile(path.join(out, 'stale.png'), 'replaced by the new build');
    const opts = {
      out,
      cache: path.join(tmp, 'cache'),
      test_fraction: 0.2,
      seed: 's',
      version: EMOJI_DATASOURCE_VERSION,
    };
    const r = await buildEmojiDataset(opts);

    const list = async (d: string) => (await fs.readdir(path.join(out, d))).sort();
    const [trainA, trainB, testA, testB] = await Promise.all(['trainA', 'trainB', 'testA', 'testB'].map(list));
    const expected = splitEmoji(paired(N), { testFraction: 0.2, salt: 's' });
    const names = (xs: PairedEmoji[]) => xs.map((e) => `${e.id}.png`).sort();
    expect(trainA).toEqual(names(expected.trainA));
    expect(trainB).toEqual(names(expected.trainB));
    expect(testA).toEqual(names(expected.test));
    expect(testB).toEqual(testA);
    expect(testA.length).toBeGreaterThan(0);
    expect(r.counts).toEqual({
      trainA: trainA.length,
      trainB: trainB.length,
      testA: testA.length,
      testB: testA.length,
    });
    expect(await fs.readdir(out)).toEqual(
      expect.arrayContaining([
        'ATTRIBUTION.md',
        'LICENSE-Twemoji-CC-BY-4.0.txt',
        'LICENSE-Noto-Emoji-Apache-2.0.txt',
        'dataset.json',
      ]),
    );
    expect(await fs.readdir(out)).not.toContain('stale.png');
    expect(await fs.readdir(path.dirname(out))).toEqual(['twemoji2noto']); // no temp folders left

    // testA is the Twemoji drawing, testB the Noto one of the same emoji; corners were transparent.
    const id = testA[0];
    const index = fakeIds(N).findIndex((u) => `${u.toLowerCase()}.png` === id);
    for (const [d, red] of [
      ['testA', 10],
      ['testB', 200],
    ] as const) {
      const { data, info } = await sharp(path.join(out, d, id))
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
      expect([...data.subarray(0, 3)]).toEqual([255, 255, 255]);
      const mid = (32 * 64 + 32) * 3;
      expect([...data.subarray(mid, mid + 3)]).toEqual([red, index, 50]);
    }
  });

  test('a missing cache entry or image is one clear error and leaves no partial dataset', async () => {
    const out = path.join(tmp, 'broken');
    const cache = path.join(tmp, 'cache');
    const img = path.join(cache, 'node_modules', 'emoji-datasource-google', 'img', 'google', '64', '1f300.png');
    const saved = await fs.readFile(img);
    await fs.rm(img);
    try {
      await expect(
        buildEmojiDataset({ out, cache, test_fraction: 0.1, seed: 's', version: EMOJI_DATASOURCE_VERSION }),
      ).rejects.toThrow(/1f300\.png: ENOENT/);
    } finally {
      await fs.writeFile(img, saved);
    }
    expect((await fs.readdir(tmp)).filter((f) => f.startsWith('broken'))).toEqual([]);
  });
});
