/**
 * The input folder tree → the list of images to translate and where each result goes. Output paths
 * mirror the input's relative paths with the extension of each file's output format. Everything here is
 * deterministic (sorted, POSIX-style relative paths), so every shard of a sharded run computes
 * the same list and the same output names.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  answerFormatOf,
  IMAGE_EXTENSIONS,
  OUTPUT_FORMATS,
  OUTPUT_ROWS,
  type OutputFormat,
} from '../core/image/formats';

/** `--format`: one output format for every file, or `auto`: each file's own family (by its extension). */
export const TREE_FORMATS = ['auto', ...OUTPUT_FORMATS] as const;
export type TreeFormat = (typeof TREE_FORMATS)[number];

/** The format a file is written in: `format`, or for `auto` the format table's answer to its extension. */
export function fileOutputFormat(rel: string, format: TreeFormat): OutputFormat {
  return format === 'auto' ? answerFormatOf({ file: rel }) : format;
}

export interface InputListing {
  /** Image files, relative to the input folder, POSIX separators, sorted. */
  images: string[];
  /** Files skipped because their extension is not an image one. */
  ignored: number;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Walks `root` recursively. Hidden entries (dot files and folders, which include our own temp
 * files) are skipped, and so is `exclude` (the output folder when it lies inside the input).
 * Symbolic links to files are followed; links to folders are not (no cycles).
 */
export async function listInputs(root: string, exclude?: string): Promise<InputListing> {
  const images: string[] = [];
  let ignored = 0;
  const skip = exclude === undefined ? undefined : path.resolve(exclude);
  async function walk(dir: string, rel: string): Promise<void> {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => byCodeUnit(a.name, b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = path.join(dir, e.name);
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (abs !== skip) await walk(abs, relPath);
        continue;
      }
      let isFile = e.isFile();
      if (e.isSymbolicLink()) isFile = (await fs.stat(abs).catch(() => null))?.isFile() ?? false;
      if (!isFile) continue;
      if (IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase())) images.push(relPath);
      else ignored++;
    }
  }
  await walk(path.resolve(root), '');
  // Sorted per folder during the walk; a global sort also orders `a/b` against `a-b` the same everywhere.
  images.sort(byCodeUnit);
  return { images, ignored };
}

/**
 * Relative output path for each relative input path: same folders, extension replaced by its
 * output format's (fileOutputFormat). When that would give two inputs the same output (`x.jpg` and `x.png` → `x.png`), each
 * of them keeps its whole name instead (`x.jpg.png`, `x.png.png`); repeated until no two collide.
 */
export function outputPaths(inputs: readonly string[], format: TreeFormat): Map<string, string> {
  const ext = (rel: string) => OUTPUT_ROWS[fileOutputFormat(rel, format)].extension;
  const short = (rel: string) => {
    const e = path.posix.extname(rel);
    return rel.slice(0, rel.length - e.length) + ext(rel);
  };
  const long = (rel: string) => rel + ext(rel);
  const keepWhole = new Set<string>();
  for (;;) {
    const claims = new Map<string, string[]>();
    for (const rel of inputs) {
      const out = keepWhole.has(rel) ? long(rel) : short(rel);
      const list = claims.get(out);
      if (list) list.push(rel);
      else claims.set(out, [rel]);
    }
    // Whole names are unique among themselves, so only short names ever need to switch; this ends.
    const clashing = [...claims.values()].filter((l) => l.length > 1).flat();
    const changed = clashing.filter((rel) => !keepWhole.has(rel));
    if (changed.length === 0) {
      const result = new Map<string, string>();
      for (const [out, [rel]] of claims) result.set(rel, out);
      return result;
    }
    for (const rel of changed) keepWhole.add(rel);
  }
}
