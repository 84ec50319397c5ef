/**
 * What the page needs to run a model folder in the browser: the URL of each file it fetches, its
 * sha256 (the cache key) and its size in bytes (so the page can decide whether the model fits).
 * One shape for the server's /model-files/index.json (serve/browserRoutes.ts) and the static
 * export's model-files/index.json (web/buildStatic.ts).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, type Direction, type ModelManifest } from '../core/modelManifest';
import { embedExternalWeights } from '../core/onnx/externalWeights';

/** URL prefix of model files, relative to the page. */
export const MODEL_FILES_PATH = 'model-files';
/** Files of a model folder shown as its card, when present. */
export const CARD_FILES = ['README.md', 'ATTRIBUTION.md'] as const;

export interface BrowserGraph {
  file: string;
  sha256: string;
  bytes: number;
  /** URL relative to the page; `?v=` carries the content hash, so it may be cached forever. */
  url: string;
}

export interface BrowserModelEntry {
  name: string;
  /** model.json, relative to the page. */
  manifest: string;
  directions: Partial<Record<Direction, BrowserGraph & { tiling: boolean }>>;
  /** Card files (README.md, ATTRIBUTION.md) present in the folder, as URLs relative to the page. */
  card: string[];
}

export interface BrowserModelIndex {
  defaultModel: string | null;
  /** Processing sizes above this many pixels run tiled on the server (TILE_PIXELS). */
  tilePixels: number;
  models: BrowserModelEntry[];
}

/** The files of `manifest`'s folder that may be served: model.json, plain graphs, card files. */
export function servableFiles(manifest: ModelManifest): Map<string, string | null> {
  const files = new Map<string, string | null>([[MANIFEST_FILE, null]]);
  // A graph with shared external weights goes out with them embedded: its ETag is that body's hash.
  for (const e of Object.values(manifest.directions)) if (e) files.set(e.file, e.weights ? null : (e.sha256 ?? null));
  for (const f of CARD_FILES) files.set(f, null);
  return files;
}

export async function describeModelFolder(
  dir: string,
  manifest: ModelManifest,
  directions: readonly Direction[],
): Promise<BrowserModelEntry> {
  const base = `${MODEL_FILES_PATH}/${encodeURIComponent(manifest.name)}/`;
  const entry: BrowserModelEntry = {
    name: manifest.name,
    manifest: `${base}${MANIFEST_FILE}`,
    directions: {},
    card: [],
  };
  for (const d of directions) {
    const g = manifest.directions[d];
    if (!g) continue;
    const file = path.join(dir, g.file);
    // The page opens the graph from bytes, so shared external weights are embedded in what it gets.
    const served = g.weights ? await embedExternalWeights(dir, g.file) : null;
    const size = served ? served.byteLength : (await fs.stat(file)).size;
    const sha256 =
      (served ? null : g.sha256) ??
      createHash('sha256')
        .update(served ?? (await fs.readFile(file)))
        .digest('hex');
    entry.directions[d] = {
      file: g.file,
      sha256,
      bytes: size,
      url: `${base}${encodeURIComponent(g.file)}?v=${sha256.slice(0, 16)}`,
      tiling: g.tiling !== undefined,
    };
  }
  for (const f of CARD_FILES) if (await fs.stat(path.join(dir, f)).catch(() => null)) entry.card.push(`${base}${f}`);
  return entry;
}
