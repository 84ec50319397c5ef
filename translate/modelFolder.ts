/**
 * `--model`: a model name in the models directory (as the server names models: the manifest's
 * `name`, or else the folder's name) or a path to a model folder.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { scanModelsDir } from '../inference/modelsDirScan';
import { MANIFEST_FILE, readManifest, type Direction, type ModelManifest } from '../core/modelManifest';

/** A problem with the command's inputs: reported as one line, exit status 1. */
export class TranslateError extends Error {}

export interface ResolvedModel {
  /** The model folder. */
  dir: string;
  manifest: ModelManifest;
}

function looksLikePath(s: string): boolean {
  return path.isAbsolute(s) || s.startsWith('.') || s.includes('/') || s.includes(path.sep);
}

async function isDir(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function readFolderManifest(dir: string): Promise<ModelManifest> {
  try {
    return await readManifest(dir, `${dir}/${MANIFEST_FILE}`);
  } catch (e) {
    throw new TranslateError((e as Error).message);
  }
}

/** Model folders directly under `modelsDir` with their manifest names (unreadable manifests: name unknown). */
async function listModels(modelsDir: string): Promise<{ folder: string; name?: string }[]> {
  const found: { folder: string; name?: string }[] = [];
  for (const { folder, dir, hasManifest } of await scanModelsDir(modelsDir)) {
    if (!hasManifest) continue;
    const text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8').catch(() => null);
    if (text === null) continue;
    let name: string | undefined;
    try {
      name = (JSON.parse(text) as { name?: unknown }).name as string | undefined;
    } catch {
      name = undefined;
    }
    found.push({ folder, name: typeof name === 'string' ? name : undefined });
  }
  return found;
}

export async function resolveModel(model: string, modelsDir: string): Promise<ResolvedModel> {
  if (looksLikePath(model)) {
    if (!(await isDir(model))) throw new TranslateError(`model folder ${model} does not exist`);
    return { dir: path.resolve(model), manifest: await readFolderManifest(model) };
  }
  if (!(await isDir(modelsDir)))
    throw new TranslateError(
      `no model '${model}': models directory ${modelsDir} does not exist (set --models_dir, or pass a model folder path such as ./models/${model})`,
    );
  const models = await listModels(modelsDir);
  const match = models.find((m) => m.name === model) ?? models.find((m) => m.folder === model);
  if (!match) {
    const names = models.map((m) => m.name ?? m.folder);
    throw new TranslateError(
      `no model '${model}' in ${modelsDir} (models there: ${names.length ? names.join(', ') : 'none'})`,
    );
  }
  const dir = path.resolve(modelsDir, match.folder);
  return { dir, manifest: await readFolderManifest(dir) };
}

/** Fails early (before any session is opened) when the model lacks the requested direction. */
export function checkDirection(m: ResolvedModel, direction: Direction): void {
  if (!m.manifest.directions[direction]) {
    const has = Object.keys(m.manifest.directions).join(', ');
    throw new TranslateError(`model '${m.manifest.name}' has no ${direction} generator (directions: ${has})`);
  }
}
