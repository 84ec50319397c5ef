/**
 * `npm run data:openmoji` — the bundled default model's dataset: OpenMoji's black line art
 * (domain A) and its colour drawings (domain B) of the same designs, rendered from the SVGs of the
 * npm package `openmoji` (CC BY-SA 4.0) to small RGB PNGs on white.
 *
 *   npm run data:openmoji -- [--out datasets/openmoji] [--cache .cache/openmoji] [--size 64] [--test_fraction 0.1]
 *
 * The package is not a project dependency: it is installed with npm into --cache (about 70 MB
 * unpacked, reused by later runs), as tools/datasets/emoji.ts does. Each design (one emoji code, skin-tone
 * variants left out) goes to exactly one of trainA (line art), trainB (colour) or the test split,
 * by a salted hash of its code (tools/datasets/emojiSplit.ts), so the two training halves are unpaired and
 * share no design, and testA/<id>.png and testB/<id>.png are the two renderings of the same
 * held-out design: either is the ground truth for translating the other. Designs whose colour or
 * black SVG is byte-identical to another design's are dropped (one picture would otherwise be in
 * two splits). The output is deterministic (same files, same bytes) for a given package version,
 * size and seed; it is built in a sibling temp folder and renamed into place.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../../core/cli/command';
import { optionField } from '../../core/config/options';
import { firstLine } from '../../core/errorText';
import { ensureCachedPackages, forEachLimited, readJsonFile, splitSection, writeDatasetFolder } from './datasetBuild';
import { splitEmoji } from './emojiSplit';

export const OPENMOJI_VERSION = '17.0.0';
const PACKAGE = 'openmoji';
/** OpenMoji SVGs are drawn on a 72×72 view box. */
const VIEW_BOX = 72;

export const openmojiOptionsSchema = z
  .object({
    out: optionField.text().default('datasets/openmoji').describe('dataset folder to write (replaced if it exists)'),
    cache: optionField
      .text()
      .default('.cache/openmoji')
      .describe('where the openmoji package is installed (npm --prefix); reused when the version matches'),
    size: optionField
      .int(1)
      .refine((n) => n >= 8 && n <= 1024, 'must be an integer in [8, 1024]')
      .default(64)
      .describe('side of the square PNGs in pixels'),
    test_fraction: optionField
      .number((n) => n >= 0 && n < 1, 'must be a number in [0, 1)')
      .default(0.1)
      .describe('share of designs held out for testA/testB; the rest split 50/50 between trainA and trainB'),
    seed: optionField.text().default('openmoji').describe('salt of the hash that assigns designs to splits'),
    version: optionField.text().default(OPENMOJI_VERSION).describe('openmoji package version'),
    limit: optionField
      .int(1, true)
      .default(Infinity)
      .describe('use only the first N designs in code order (quick checks)'),
  })
  .strict();

export type OpenmojiOptions = z.output<typeof openmojiOptionsSchema>;

/** The fields read from one entry of the package's data/openmoji.json (it carries many more). */
const entrySchema = z.object({
  hexcode: z.string().regex(/^[0-9A-Fa-f]{1,6}(-[0-9A-Fa-f]{1,6})*$/, 'must be dash-separated hex code points'),
  annotation: z.string().default(''),
  group: z.string().default(''),
  skintone: z.union([z.string(), z.number()]).default(''),
});

export interface OpenmojiDesign {
  /** Lower-case code points, the PNG's file name (`1f600`, `0023-fe0f-20e3`). */
  id: string;
  hexcode: string;
  name: string;
  group: string;
}

/** Validates a parsed openmoji.json and keeps the base designs (no skin-tone variants), sorted by id. */
export function parseOpenmojiJson(json: unknown, where: string): OpenmojiDesign[] {
  if (!Array.isArray(json)) throw new Error(`${where}: expected an array of emoji entries`);
  const seen = new Set<string>();
  const out: OpenmojiDesign[] = [];
  json.forEach((raw, i) => {
    const r = entrySchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new Error(`${where}: entry ${i}: '${issue.path.join('.') || '(root)'}' ${issue.message}`);
    }
    const e = r.data;
    if (e.skintone !== '') return;
    const id = e.hexcode.toLowerCase();
    if (seen.has(id)) throw new Error(`${where}: ${e.hexcode} is listed twice`);
    seen.add(id);
    out.push({ id, hexcode: e.hexcode, name: e.annotation || id, group: e.group });
  });
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Splits designs into kept and dropped: a design is dropped when its colour or its black SVG is
 * byte-identical to another design's (`digest` gives the content hash of one rendering).
 */
export function dropIdenticalDesigns<T extends { id: string }>(
  designs: readonly T[],
  digest: (d: T, style: 'color' | 'black') => string,
): { kept: T[]; dropped: string[] } {
  const dropped = new Set<string>();
  for (const style of ['color', 'black'] as const) {
    const groups = new Map<string, string[]>();
    for (const d of designs) {
      const key = digest(d, style);
      groups.set(key, [...(groups.get(key) ?? []), d.id]);
    }
    for (const ids of groups.values()) if (ids.length > 1) for (const id of ids) dropped.add(id);
  }
  return { kept: designs.filter((d) => !dropped.has(d.id)), dropped: [...dropped].sort() };
}

/** One SVG → size×size 8-bit RGB PNG on white; the same bytes for the same input. */
export async function renderSvg(svg: Buffer, size: number, where: string): Promise<Buffer> {
  try {
    const { data, info } = await sharp(svg, { density: (72 * size) / VIEW_BOX })
      .resize(size, size, { fit: 'contain', background: '#ffffff' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .png({ palette: false, compressionLevel: 9 })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`rendered to ${info.channels} channels, expected 3`);
    return data;
  } catch (e) {
    throw new Error(`${where}: ${firstLine(e)}`);
  }
}

function attribution(o: OpenmojiOptions, counts: Record<string, number>): string {
  return `# openmoji — attribution and licence

Unpaired image-to-image translation data: domain A is **OpenMoji black** (line art), domain B is
**OpenMoji color**, the same designs, built by \`npm run data:openmoji\` (cyclegan-ts,
tools/datasets/openmoji.ts) from the npm package \`openmoji@${o.version}\`.

| folder | images | content |
| ------ | -----: | ------- |
| trainA | ${counts.trainA} | black line art, designs not in trainB or test |
| trainB | ${counts.trainB} | colour, designs not in trainA or test |
| testA  | ${counts.testA} | black line art, held-out designs |
| testB  | ${counts.testB} | colour, the same held-out designs under the same file names |

## Images

All emoji designs – OpenMoji – the open-source emoji and icon project (https://openmoji.org),
License: CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/) — full text in \`LICENSE-OpenMoji-CC-BY-SA-4.0.txt\`.
The designers of each emoji are listed in the package's \`data/openmoji.json\` (\`openmoji_author\`).

## Changes made

The SVGs of the package's \`black/svg/\` and \`color/svg/\` folders were rendered (sharp/librsvg) to
${o.size}×${o.size} RGB PNGs on a white background and renamed to the emoji's lower-case code points
(e.g. \`1f600.png\`). Skin-tone variants are not included, nor are designs whose colour or black SVG is
byte-identical to another design's (listed in \`dataset.json\` under \`droppedIdentical\`). This
adaptation is shared under the same licence, CC BY-SA 4.0.

${splitSection('design', o.seed, o.test_fraction)}`;
}

export interface OpenmojiDatasetResult {
  out: string;
  counts: Record<'trainA' | 'trainB' | 'testA' | 'testB', number>;
  designs: number;
  droppedIdentical: number;
  seconds: number;
}

export async function buildOpenmojiDataset(o: OpenmojiOptions): Promise<OpenmojiDatasetResult> {
  const t0 = performance.now();
  const out = path.resolve(o.out);
  const cache = path.resolve(o.cache);
  const dir = (await ensureCachedPackages(cache, [PACKAGE], o.version, '~15 MB download, ~70 MB unpacked'))[PACKAGE];
  const jsonFile = path.join(dir, 'data', 'openmoji.json');
  const all = parseOpenmojiJson(await readJsonFile(jsonFile), `${PACKAGE}/data/openmoji.json`).slice(0, o.limit);
  if (all.length === 0) throw new Error(`${jsonFile} lists no emoji`);
  const svgFile = (d: OpenmojiDesign, style: 'color' | 'black') => path.join(dir, style, 'svg', `${d.hexcode}.svg`);
  const svgs = new Map<string, Buffer>();
  for (const d of all)
    for (const style of ['color', 'black'] as const) {
      const file = svgFile(d, style);
      const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`${file}: ${err.code ?? err.message} (incomplete package install? delete ${o.cache} and rerun)`);
      });
      svgs.set(`${style}/${d.id}`, bytes);
    }
  const { kept, dropped } = dropIdenticalDesigns(all, (d, style) =>
    createHash('sha256')
      .update(svgs.get(`${style}/${d.id}`)!)
      .digest('hex'),
  );
  const split = splitEmoji(kept, { testFraction: o.test_fraction, salt: o.seed });
  const jobs: { key: string; dst: string }[] = [];
  const add = (folder: string, style: 'color' | 'black', list: OpenmojiDesign[]) => {
    for (const d of list) jobs.push({ key: `${style}/${d.id}`, dst: path.join(folder, `${d.id}.png`) });
  };
  add('trainA', 'black', split.trainA);
  add('trainB', 'color', split.trainB);
  add('testA', 'black', split.test);
  add('testB', 'color', split.test);

  return writeDatasetFolder(out, async (tmp) => {
    for (const f of ['trainA', 'trainB', 'testA', 'testB']) await fs.mkdir(path.join(tmp, f), { recursive: true });
    await forEachLimited(jobs, 4, async (j) => {
      await fs.writeFile(path.join(tmp, j.dst), await renderSvg(svgs.get(j.key)!, o.size, `${j.key}.svg`));
    });
    const counts = {
      trainA: split.trainA.length,
      trainB: split.trainB.length,
      testA: split.test.length,
      testB: split.test.length,
    };
    const describe = (list: OpenmojiDesign[]) => list.map((d) => ({ id: d.id, name: d.name, group: d.group }));
    const info = {
      dataset: 'openmoji',
      domains: { A: 'OpenMoji black (line art)', B: 'OpenMoji color' },
      source: { [PACKAGE]: o.version },
      imageSize: o.size,
      background: 'rendered onto white (#ffffff)',
      split: { salt: o.seed, testFraction: o.test_fraction, hash: 'sha256(salt NUL id)' },
      counts,
      droppedIdentical: dropped,
      trainA: describe(split.trainA),
      trainB: describe(split.trainB),
      test: describe(split.test),
    };
    await fs.writeFile(path.join(tmp, 'dataset.json'), JSON.stringify(info, null, 2) + '\n');
    await fs.writeFile(path.join(tmp, 'ATTRIBUTION.md'), attribution(o, counts));
    await fs.copyFile(path.join(dir, 'LICENSE.txt'), path.join(tmp, 'LICENSE-OpenMoji-CC-BY-SA-4.0.txt'));
    return {
      out,
      counts,
      designs: all.length,
      droppedIdentical: dropped.length,
      seconds: (performance.now() - t0) / 1000,
    };
  });
}

if (require.main === module) {
  runCommand(
    {
      name: 'data:openmoji',
      program: 'npm run data:openmoji --',
      summary:
        'Build datasets/openmoji (trainA: black line art, trainB: colour, testA/testB: held-out pairs; small RGB ' +
        'PNGs on white) from the SVGs of the openmoji npm package.',
      schema: openmojiOptionsSchema,
    },
    async (opts) => {
      process.stdout.write(`${JSON.stringify(await buildOpenmojiDataset(opts))}\n`);
    },
  );
}
