/**
 * The one scan of a models directory (the server's MODELS_DIR, `npm run translate --models_dir`):
 * its sub-folders, hidden ones skipped, in name order, each with whether it holds a model.json.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE } from '../core/modelManifest';

export interface ModelsDirEntry {
  /** The sub-folder's name. */
  folder: string;
  /** Its path (root joined with folder). */
  dir: string;
  hasManifest: boolean;
}

/** Folders (or links to folders) directly under `root`; throws when `root` cannot be read. */
export async function scanModelsDir(root: string): Promise<ModelsDirEntry[]> {
  const names = (await fs.readdir(root)).filter((e) => !e.startsWith('.')).sort();
  const found: ModelsDirEntry[] = [];
  for (const folder of names) {
    const dir = path.join(root, folder);
    if (!(await fs.stat(dir).catch(() => null))?.isDirectory()) continue;
    const manifest = await fs.stat(path.join(dir, MANIFEST_FILE)).catch(() => null);
    found.push({ folder, dir, hasManifest: manifest?.isFile() ?? false });
  }
  return found;
}
