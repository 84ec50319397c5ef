/**
 * `npm run data:emoji` — a real unpaired dataset: Twitter's Twemoji (domain A) and Google's Noto
 * emoji (domain B), 64×64 RGB PNGs, from the npm packages emoji-datasource-twitter and
 * emoji-datasource-google (Twemoji graphics CC-BY-4.0, Noto Apache-2.0; the Apple set is not used,
 * its licence forbids it).
 *
 *   npm run data:emoji -- [--out datasets/twemoji2noto] [--cache .cache/emoji] [--test_fraction 0.1] [--seed twemoji2noto]
 *
 * The packages are not project dependencies: they are installed with npm into --cache (about
 * 150 MB, reused by later runs). Each emoji goes to trainA (Twemoji) or trainB (Noto), never both,
 * or to the test split, where testA/<id>.png and testB/<id>.png are the two vendors' drawings of
 * the same emoji, so either one is the ground truth for translating the other (tools/datasets/emojiSplit.ts).
 *
 * The source images are RGBA on a transparent background. They are flattened onto white, so the
 * dataset is plain RGB (the official loader's convert('RGB') would otherwise keep whatever colour
 * the transparent pixels happen to hold; the server does the same and re-attaches the alpha). The dataset is built in a sibling temp folder and renamed
 * into place, replacing any previous one.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { optionField } from '../../core/config/options';
import { runCommand } from '../../core/cli/command';
import { firstLine } from '../../core/errorText';
import { createHash } from 'node:crypto';
import {
  ensureCachedPackages,
  forEachLimited,
  readJsonFile,
  splitSection,
  writeDatasetFolder,
} from './datasetBuild';
import {
  dropDuplicateImages,
  pairEmoji,
  parseEmojiJson,
  splitEmoji,
  type PairedEmoji,
  type Vendor,
} from './emojiSplit';

export const EMOJI_DATASOURCE_VERSION = '16.0.0';
export const IMAGE_SIDE = 64;

const PACKAGES: Record<Vendor, string> = {
  twitter: 'emoji-datasource-twitter',
  google: 'emoji-datasource-google',
};

const LICENSES_DIR = path.join(__dirname, 'licenses');

export const emojiOptionsSchema = z
  .object({
    out: optionField
      .text()
      .default('datasets/twemoji2noto')
      .describe('dataset folder to write (replaced if it exists)'),
    cache: optionField
      .text()
      .default('.cache/emoji')
      .describe('where the emoji packages are installed (npm --prefix); reused when the version matches'),
    test_fraction: optionField
      .number((n) => n >= 0 && n < 1, 'must be a number in [0, 1)')
      .default(0.1)
      .describe('share of emoji held out for testA/testB; the rest split 50/50 between trainA and trainB'),
    seed: optionField.text().default('twemoji2noto').describe('salt of the hash that assigns emoji to splits'),
    version: optionField
      .text()
      .default(EMOJI_DATASOURCE_VERSION)
      .describe('emoji-datasource-twitter/-google version (both the same)'),
  })
  .strict();

export type EmojiOptions = z.output<typeof emojiOptionsSchema>;

async function readEmojiJson(dir: string, vendor: Vendor) {
  return parseEmojiJson(await readJsonFile(path.join(dir, 'emoji.json')), `${PACKAGES[vendor]}/emoji.json`);
}

/** One source image → 64×64 8-bit RGB PNG, alpha composited onto white. */
async function convertImage(src: string, dst: string): Promise<void> {
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    const meta = await sharp(src).metadata();
    if (meta.width !== IMAGE_SIDE || meta.height !== IMAGE_SIDE)
      throw new Error(`is ${meta.width}x${meta.height}, expected ${IMAGE_SIDE}x${IMAGE_SIDE}`);
    out = await sharp(src)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .png({ palette: false, compressionLevel: 9 })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${src}: ${firstLine(e)}`);
  }
  if (out.info.channels !== 3) throw new Error(`${src}: converted to ${out.info.channels} channels, expected 3`);
  await fs.writeFile(dst, out.data);
}

function attribution(version: string, o: EmojiOptions, counts: Record<string, number>): string {
  return `# twemoji2noto — attribution and licences

Unpaired image-to-image translation data: domain A is Twitter's **Twemoji**, domain B is Google's
**Noto Color Emoji**, built by \`npm run data:emoji\` (cyclegan-ts, tools/datasets/emoji.ts) from the npm
packages \`emoji-datasource-twitter@${version}\` and \`emoji-datasource-google@${version}\`
(https://github.com/iamcal/emoji-data).

| folder | images | content |
| ------ | -----: | ------- |
| trainA | ${counts.trainA} | Twemoji, emoji not in trainB or test |
| trainB | ${counts.trainB} | Noto, emoji not in trainA or test |
| testA  | ${counts.testA} | Twemoji, held-out emoji |
| testB  | ${counts.testB} | Noto, the same held-out emoji under the same file names |

## Images

- **Twemoji** graphics: Copyright Twitter, Inc and other contributors (https://github.com/twitter/twemoji,
  continued by the contributors of https://github.com/jdecked/twemoji), licensed under the Creative Commons Attribution 4.0
  International licence (CC-BY-4.0): https://creativecommons.org/licenses/by/4.0/ — full text in
  \`LICENSE-Twemoji-CC-BY-4.0.txt\`.
- **Noto Emoji** images: Copyright Google Inc. (https://github.com/googlefonts/noto-emoji), licensed under the
  Apache License, Version 2.0: https://www.apache.org/licenses/LICENSE-2.0 — full text in
  \`LICENSE-Noto-Emoji-Apache-2.0.txt\`. Noto's flag images come from its third_party/region-flags
  folder, which are in the public domain or otherwise exempt from copyright.
- The emoji list (\`dataset.json\`, from the packages' \`emoji.json\`) is emoji-data by Cal Henderson, MIT licence:
  \`LICENSE-emoji-data-MIT.txt\`.

## Changes made

The 64×64 PNGs of the packages' \`img/<set>/64/\` folders were converted from RGBA to RGB by
compositing them onto a white background, and renamed to the emoji's lower-case code points
(e.g. \`1f600.png\`). Skin-tone variants are not included, nor are emoji whose image is byte-identical
to another emoji's image from the same vendor (listed in \`dataset.json\` under \`droppedDuplicates\`).
Nothing else was altered.

${splitSection('emoji', o.seed, o.test_fraction)}`;
}

export interface EmojiDatasetResult {
  out: string;
  counts: Record<'trainA' | 'trainB' | 'testA' | 'testB', number>;
  /** Emoji both vendors draw, before duplicates are dropped. */
  paired: number;
  droppedDuplicates: number;
  seconds: number;
}

export async function buildEmojiDataset(o: EmojiOptions): Promise<EmojiDatasetResult> {
  const t0 = performance.now();
  const out = path.resolve(o.out);
  const cache = path.resolve(o.cache);
  const pkgs = await ensureCachedPackages(cache, [PACKAGES.twitter, PACKAGES.google], o.version, '~140 MB download');
  const dirs: Record<Vendor, string> = { twitter: pkgs[PACKAGES.twitter], google: pkgs[PACKAGES.google] };
  const [twitter, google] = await Promise.all([
    readEmojiJson(dirs.twitter, 'twitter'),
    readEmojiJson(dirs.google, 'google'),
  ]);
  const paired = pairEmoji(twitter, google);
  if (paired.length === 0) throw new Error('no emoji has both a Twemoji and a Noto image');
  const source = (e: PairedEmoji, vendor: Vendor) =>
    path.join(dirs[vendor], 'img', vendor, String(IMAGE_SIDE), e.image[vendor]);
  const digests = new Map<string, string>();
  for (const e of paired)
    for (const vendor of ['twitter', 'google'] as const) {
      const file = source(e, vendor);
      const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`${file}: ${err.code ?? err.message} (incomplete package install? delete ${cache} and rerun)`);
      });
      digests.set(`${vendor}/${e.id}`, createHash('sha256').update(bytes).digest('hex'));
    }
  const { kept, dropped } = dropDuplicateImages(paired, (e, vendor) => digests.get(`${vendor}/${e.id}`)!);
  const split = splitEmoji(kept, { testFraction: o.test_fraction, salt: o.seed });

  const jobs: { src: string; dst: string }[] = [];
  const add = (folder: string, vendor: Vendor, list: PairedEmoji[]) => {
    for (const e of list) jobs.push({ src: source(e, vendor), dst: path.join(folder, `${e.id}.png`) });
  };
  add('trainA', 'twitter', split.trainA);
  add('trainB', 'google', split.trainB);
  add('testA', 'twitter', split.test);
  add('testB', 'google', split.test);

  return writeDatasetFolder(out, async (tmp) => {
    for (const f of ['trainA', 'trainB', 'testA', 'testB']) await fs.mkdir(path.join(tmp, f), { recursive: true });
    let done = 0;
    await forEachLimited(jobs, 8, async (j) => {
      await convertImage(j.src, path.join(tmp, j.dst));
      if (++done % 500 === 0) process.stderr.write(`${done}/${jobs.length} images\n`);
    });
    const counts = {
      trainA: split.trainA.length,
      trainB: split.trainB.length,
      testA: split.test.length,
      testB: split.test.length,
    };
    const describe = (list: PairedEmoji[]) => list.map((e) => ({ id: e.id, name: e.name, category: e.category }));
    const info = {
      dataset: 'twemoji2noto',
      domains: { A: 'Twemoji (Twitter)', B: 'Noto Color Emoji (Google)' },
      source: { [PACKAGES.twitter]: o.version, [PACKAGES.google]: o.version },
      imageSize: IMAGE_SIDE,
      background: 'alpha composited onto white (#ffffff)',
      split: { salt: o.seed, testFraction: o.test_fraction, hash: 'sha256(salt NUL id)' },
      counts,
      droppedDuplicates: dropped,
      trainA: describe(split.trainA),
      trainB: describe(split.trainB),
      test: describe(split.test),
    };
    await fs.writeFile(path.join(tmp, 'dataset.json'), JSON.stringify(info, null, 2) + '\n');
    await fs.writeFile(path.join(tmp, 'ATTRIBUTION.md'), attribution(o.version, o, counts));
    await fs.copyFile(path.join(LICENSES_DIR, 'CC-BY-4.0.txt'), path.join(tmp, 'LICENSE-Twemoji-CC-BY-4.0.txt'));
    await fs.copyFile(path.join(LICENSES_DIR, 'Apache-2.0.txt'), path.join(tmp, 'LICENSE-Noto-Emoji-Apache-2.0.txt'));
    await fs.copyFile(path.join(dirs.twitter, 'LICENSE'), path.join(tmp, 'LICENSE-emoji-data-MIT.txt'));

    return {
      out,
      counts,
      paired: paired.length,
      droppedDuplicates: dropped.length,
      seconds: (performance.now() - t0) / 1000,
    };
  });
}

if (require.main === module) {
  runCommand(
    {
      name: 'data:emoji',
      program: 'npm run data:emoji --',
      summary:
        'Build datasets/twemoji2noto (trainA/trainB/testA/testB, 64x64 RGB PNGs) from the Twemoji and Noto ' +
        'emoji images of the emoji-datasource npm packages.',
      schema: emojiOptionsSchema,
    },
    async (opts) => {
      process.stdout.write(`${JSON.stringify(await buildEmojiDataset(opts))}\n`);
    },
  );
}
