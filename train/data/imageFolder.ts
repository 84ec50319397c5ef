/**
 * Image listing as the official `make_dataset`: every image file under a folder, recursively
 * (following symlinked folders), sorted by path. Unlike the official code, which cuts to
 * `max_dataset_size` in directory-walk order before sorting, we sort first, so the subset does not
 * depend on the file system.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isTrainingImageFile, TRAINING_EXTENSIONS } from '../../core/image/formats';

/** The official image folder's extensions (core/image/formats.ts, the `training` rows). */
export const isImageFile = isTrainingImageFile;

/** Code-point order, as Python's sorted() on str (UTF-8 byte order is the same order). */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

async function walk(dir: string, seen: Set<string>, out: string[]): Promise<void> {
  const real = await fs.realpath(dir);
  if (seen.has(real)) return; // a symlink cycle
  seen.add(real);
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    const p = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const st = await fs.stat(p).catch(() => null); // dangling links are ignored
      isDir = st?.isDirectory() ?? false;
      isFile = st?.isFile() ?? false;
    }
    if (isDir) await walk(p, seen, out);
    else if (isFile && isImageFile(e.name)) out.push(p);
  }
}

/** Sorted image paths under `dir`, at most `maxDatasetSize` of them. Throws if `dir` is not a folder. */
export async function listImages(dir: string, maxDatasetSize = Infinity): Promise<string[]> {
  const st = await fs.stat(dir).catch(() => null);
  if (!st) throw new Error(`'${dir}' does not exist`);
  if (!st.isDirectory()) throw new Error(`'${dir}' is not a folder`);
  const out: string[] = [];
  await walk(dir, new Set(), out);
  out.sort(byCodePoint);
  return out.length > maxDatasetSize ? out.slice(0, maxDatasetSize) : out;
}

/**
 * The two image lists of an unaligned dataset: `<dataroot>/<phase>A` and `<dataroot>/<phase>B`.
 * Fails with one line, before any other work, when either is missing or has no images.
 */
export async function listUnalignedFolders(
  dataroot: string,
  phase = 'train',
  maxDatasetSize = Infinity,
): Promise<{ A: string[]; B: string[] }> {
  const st = await fs.stat(dataroot).catch(() => null);
  if (!st?.isDirectory()) throw new Error(`--dataroot '${dataroot}' is not a folder`);
  const lists: string[][] = [];
  for (const side of ['A', 'B']) {
    const dir = path.join(dataroot, `${phase}${side}`);
    const dst = await fs.stat(dir).catch(() => null);
    if (!dst?.isDirectory()) {
      throw new Error(`'${dir}' is missing: --dataroot needs subfolders ${phase}A and ${phase}B with images`);
    }
    const files = await listImages(dir, maxDatasetSize);
    if (files.length === 0) {
      throw new Error(`'${dir}' has no images (looked for ${TRAINING_EXTENSIONS.join(' ')}, in subfolders too)`);
    }
    lists.push(files);
  }
  return { A: lists[0], B: lists[1] };
}
