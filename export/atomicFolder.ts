/**
 * Writes a whole output folder so that readers never see it half written: everything goes into a
 * hidden temp folder next to the destination, then the temp folder is renamed into place.
 *
 * Replacing an existing folder takes two renames (POSIX cannot rename a directory onto a non-empty
 * one): old → `.NAME.old-…`, temp → NAME, then the old one is deleted. If the second rename fails
 * the old folder is put back. Only a crash between the two renames leaves NAME absent, with the
 * complete old copy still next to it; the next export to NAME puts it back first.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { syncDir } from '../core/io/atomicWrite';
import { MANIFEST_FILE } from '../core/modelManifest';

/**
 * An existing destination is only replaced if it looks like something this exporter wrote: empty,
 * a model folder (has model.json), or a folder of `epoch_N` model folders. Anything else is
 * refused, so a mistyped --out cannot delete unrelated data.
 */
async function checkReplaceable(dest: string): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(dest);
  } catch (e) {
    // ENOTDIR: a parent is a file; creating the folder will fail with a clearer message.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw e;
  }
  if (!st.isDirectory()) throw new Error(`output ${dest} exists and is not a folder`);
  const entries = await fs.readdir(dest);
  const ours = entries.length === 0 || entries.includes(MANIFEST_FILE) || entries.every((e) => /^epoch_\d+$/.test(e));
  if (!ours) throw new Error(`refusing to replace ${dest}: it exists and is not a model folder (no ${MANIFEST_FILE})`);
  return true;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cleans up after an export that was killed: its temp folder is dropped; an `.old-` copy means it
 * died during the swap, so it is either obsolete (the new folder is in place) or the only complete
 * copy (the new one never arrived) and goes back into place.
 */
async function recoverInterrupted(parent: string, base: string, dest: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(parent);
  } catch {
    return;
  }
  const prefix = `.${base}.`;
  for (const e of entries) {
    const m = /^(tmp|old)-(\d+)-[0-9a-f]+$/.exec(e.startsWith(prefix) ? e.slice(prefix.length) : '');
    if (!m || alive(Number(m[2]))) continue;
    const stale = path.join(parent, e);
    if (m[1] === 'old' && !(await exists(dest))) await fs.rename(stale, dest);
    else await fs.rm(stale, { recursive: true, force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function writeFolderAtomically(dest: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(path.resolve(dest));
  const base = path.basename(path.resolve(dest));
  await recoverInterrupted(parent, base, dest);
  const replacing = await checkReplaceable(dest);
  try {
    await fs.mkdir(parent, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create output folder ${parent}: ${(e as Error).message}`);
  }
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(parent, `.${base}.tmp-${tag}`);
  try {
    await fs.mkdir(tmp);
  } catch (e) {
    throw new Error(`cannot write to output folder ${parent}: ${(e as Error).message}`);
  }
  try {
    await fill(tmp);
    await syncDir(tmp);
    if (replacing) {
      const old = path.join(parent, `.${base}.old-${tag}`);
      await fs.rename(dest, old);
      try {
        await fs.rename(tmp, dest);
      } catch (e) {
        await fs.rename(old, dest);
        throw e;
      }
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(tmp, dest);
    }
    await syncDir(parent);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
