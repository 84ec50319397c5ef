/**
 * A model folder as one immutable version. A version is loaded from a private copy of the folder
 * (its "stage"), never from MODELS_DIR itself: sessions open some graphs lazily (tiling graphs, the
 * arena-less session for large inputs), and a folder replaced or rewritten under a loaded version
 * must not change what that version computes. The version is a content hash of the copied files,
 * so the same folder has the same version on every server and after every restart.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Hex digits of the SHA-256 a version keeps: 64 bits, plenty to tell a folder's versions apart. */
const VERSION_HEX = 16;

/**
 * What changes when anything in the folder is written, renamed or replaced: the folder's inode and,
 * per entry (name order), its name, type, size, mtime and inode. Null when the folder is gone.
 */
export async function folderFingerprint(dir: string): Promise<string | null> {
  const own = await fs.stat(dir).catch(() => null);
  if (!own?.isDirectory()) return null;
  const names = await fs.readdir(dir).catch(() => null);
  if (names === null) return null;
  const parts = [`${own.ino}`];
  for (const name of names.sort()) {
    const st = await fs.stat(path.join(dir, name)).catch(() => null);
    parts.push(st ? `${name}:${st.isDirectory() ? 'd' : 'f'}:${st.size}:${st.mtimeMs}:${st.ino}` : `${name}:gone`);
  }
  return parts.join('|');
}

/**
 * The version of a folder's files: SHA-256 over each regular file's name and the SHA-256 of its
 * bytes, in name order; the first 16 hex digits (openapi.yaml documents it as X-Model-Version).
 */
export function versionOf(files: readonly { name: string; sha256: string }[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    h.update(`${f.name}\0${f.sha256}\n`);
  return h.digest('hex').slice(0, VERSION_HEX);
}

/** The version of the model folder `dir` as it is on disk now (what the server would call it). */
export async function folderVersion(dir: string): Promise<string> {
  const files: { name: string; sha256: string }[] = [];
  for (const name of await fs.readdir(dir)) {
    const file = path.join(dir, name);
    if (!(await fs.stat(file)).isFile()) continue;
    files.push({
      name,
      sha256: createHash('sha256')
        .update(await fs.readFile(file))
        .digest('hex'),
    });
  }
  return versionOf(files);
}

export interface StagedFolder {
  /** The private copy to open the model from. */
  dir: string;
  version: string;
}

/**
 * Copies the regular files of `source` into a new folder under `stagingRoot` and names their
 * version. Fails when the folder changed while it was read (a writer still at work): the caller
 * tries again once it has settled, so a half-copied folder never becomes a version.
 */
export async function stageModelFolder(source: string, stagingRoot: string, label: string): Promise<StagedFolder> {
  const before = await folderFingerprint(source);
  if (before === null) throw new Error(`${label}/ is no longer there`);
  const dir = await fs.mkdtemp(path.join(stagingRoot, `${label}-`));
  try {
    const files: { name: string; sha256: string }[] = [];
    for (const name of (await fs.readdir(source)).sort()) {
      const from = path.join(source, name);
      if (!(await fs.stat(from).catch(() => null))?.isFile()) continue;
      const bytes = await fs.readFile(from);
      await fs.writeFile(path.join(dir, name), bytes);
      files.push({ name, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    if ((await folderFingerprint(source)) !== before)
      throw new Error(
        `${label}/ changed while it was being read (still being written?): it is read again once it settles`,
      );
    return { dir, version: versionOf(files) };
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
}
