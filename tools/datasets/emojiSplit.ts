/**
 * Which emoji go where in the twemoji → noto dataset. Pure functions over the `emoji.json` entries
 * of the two emoji-datasource packages, so the split can be tested without the network.
 *
 * An emoji's identity is its `unified` code point sequence, lower-cased (`1f600`, `0023-fe0f-20e3`).
 * Each emoji lands in exactly one of trainA (Twemoji only), trainB (Noto only) or test (both
 * vendors, under the same file name), decided by a salted SHA-256 of its identity alone. Hashing
 * per emoji, rather than shuffling the list, keeps every emoji's place fixed when a later package
 * version adds emoji: old assignments never move, and new ones fall where their hash says.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export type Vendor = 'twitter' | 'google';
export type SplitName = 'trainA' | 'trainB' | 'test';

/** The fields we read from one `emoji.json` entry (the packages carry many more). */
const entrySchema = z.object({
  unified: z.string().regex(/^[0-9A-Fa-f]{1,6}(-[0-9A-Fa-f]{1,6})*$/, 'must be dash-separated hex code points'),
  image: z.string().regex(/^[0-9A-Za-z_-]+(\.[0-9A-Za-z_-]+)*\.png$/, 'must be a plain .png file name'),
  short_name: z.string().optional(),
  category: z.string().optional(),
  has_img_twitter: z.boolean().optional(),
  has_img_google: z.boolean().optional(),
});

export type EmojiEntry = z.infer<typeof entrySchema>;

/** One emoji both vendors draw: its id and each package's image file name. */
export interface PairedEmoji {
  id: string;
  name: string;
  category: string;
  image: Record<Vendor, string>;
}

/** Validates a parsed `emoji.json`; `where` names the file in the one-line error. */
export function parseEmojiJson(json: unknown, where: string): EmojiEntry[] {
  if (!Array.isArray(json)) throw new Error(`${where}: expected an array of emoji entries`);
  return json.map((e, i) => {
    const r = entrySchema.safeParse(e);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new Error(`${where}: entry ${i}: '${issue.path.join('.') || '(root)'}' ${issue.message}`);
    }
    return r.data;
  });
}

export function emojiId(unified: string): string {
  return unified.toLowerCase();
}

/**
 * The emoji present in both packages with an image of that package's vendor, sorted by id. Only
 * the top-level entries are read: skin-tone variants live under each entry's `skin_variations`
 * and are left out by construction (a base emoji and its five tones would be near-duplicates that
 * leak between the splits).
 */
export function pairEmoji(twitter: readonly EmojiEntry[], google: readonly EmojiEntry[]): PairedEmoji[] {
  const byId = (entries: readonly EmojiEntry[], flag: 'has_img_twitter' | 'has_img_google', what: string) => {
    const m = new Map<string, EmojiEntry>();
    for (const e of entries) {
      const id = emojiId(e.unified);
      if (m.has(id)) throw new Error(`${what} emoji.json lists ${e.unified} twice`);
      if (e[flag] === true) m.set(id, e);
    }
    return m;
  };
  const t = byId(twitter, 'has_img_twitter', 'twitter');
  const g = byId(google, 'has_img_google', 'google');
  const out: PairedEmoji[] = [];
  for (const [id, te] of t) {
    const ge = g.get(id);
    if (!ge) continue;
    out.push({
      id,
      name: te.short_name ?? id,
      category: te.category ?? '',
      image: { twitter: te.image, google: ge.image },
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface DroppedEmoji {
  id: string;
  vendor: Vendor;
  /** The other emoji whose image in `vendor` is byte-identical. */
  sameAs: string[];
}

/**
 * Removes every emoji whose image in either vendor is byte-identical to another emoji's image in
 * that vendor. Such images are fallbacks or look-alikes (flags shared by two regions, family
 * emoji drawn the same way, and in emoji-datasource-google 16.0.0 Sark's flag shipped as Saudi
 * Arabia's): keeping them would let one picture sit in both train and test, or pair an emoji with
 * another emoji's drawing as ground truth. `digest` gives a content hash of one image.
 */
export function dropDuplicateImages(
  paired: readonly PairedEmoji[],
  digest: (e: PairedEmoji, vendor: Vendor) => string,
): { kept: PairedEmoji[]; dropped: DroppedEmoji[] } {
  const dropped = new Map<string, DroppedEmoji>();
  for (const vendor of ['twitter', 'google'] as const) {
    const groups = new Map<string, string[]>();
    for (const e of paired) {
      const d = digest(e, vendor);
      const g = groups.get(d);
      if (g) g.push(e.id);
      else groups.set(d, [e.id]);
    }
    for (const ids of groups.values()) {
      if (ids.length < 2) continue;
      for (const id of ids)
        if (!dropped.has(id)) dropped.set(id, { id, vendor, sameAs: ids.filter((other) => other !== id) });
    }
  }
  return {
    kept: paired.filter((e) => !dropped.has(e.id)),
    dropped: paired.filter((e) => dropped.has(e.id)).map((e) => dropped.get(e.id)!),
  };
}

export interface SplitOptions {
  /** Share of emoji held out for testing, in [0, 1). */
  testFraction: number;
  /** Salt for the hash; a different salt gives an independent split. */
  salt: string;
}

/** Two independent uniform numbers in [0, 1) from the salted hash of one id. */
function hashUniforms(id: string, salt: string): [number, number] {
  const h = createHash('sha256').update(salt).update('\0').update(id).digest();
  return [h.readUInt32BE(0) / 2 ** 32, h.readUInt32BE(4) / 2 ** 32];
}

/** Where one emoji goes: test with probability testFraction, else trainA or trainB with equal odds. */
export function assignSplit(id: string, o: SplitOptions): SplitName {
  if (!(o.testFraction >= 0 && o.testFraction < 1)) throw new Error(`test fraction ${o.testFraction} is not in [0, 1)`);
  const [u, v] = hashUniforms(id, o.salt);
  if (u < o.testFraction) return 'test';
  return v < 0.5 ? 'trainA' : 'trainB';
}

export type Split<T> = Record<SplitName, T[]>;

/** Partitions items by their id's assignment; input order is kept within each part. */
export function splitEmoji<T extends { id: string }>(items: readonly T[], o: SplitOptions): Split<T> {
  const out: Split<T> = { trainA: [], trainB: [], test: [] };
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.id)) throw new Error(`emoji ${item.id} is listed twice`);
    seen.add(item.id);
    out[assignSplit(item.id, o)].push(item);
  }
  return out;
}
