/**
 * A model folder's files, checked before anything is opened: the manifest (its name, the requested
 * directions), each direction's ONNX file, tiling graphs and shared weights file (present, matching their sha256).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, readManifest, type Direction, type ModelManifest } from '../core/modelManifest';
import type { LoadRequest } from './inferenceProtocol';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** MODEL_NAME_PATTERN in words, for messages. */
export const MODEL_NAME_WORDS = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
export const DIRECTIONS: readonly Direction[] = ['AtoB', 'BtoA'];

/**
 * Channels the `direction` generator takes in and gives out: the direction entry's own
 * inputNc/outputNc when the manifest states them, else A has inputNc and B outputNc.
 */
export function directionChannels(m: ModelManifest, d: Direction): { in: 1 | 3; out: 1 | 3 } {
  const e = m.directions[d];
  const [a, b] = d === 'AtoB' ? [m.inputNc, m.outputNc] : [m.outputNc, m.inputNc];
  return { in: e?.inputNc ?? a, out: e?.outputNc ?? b };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads and checks a model folder's manifest (name, requested directions, files, checksums). */
export async function readModelFolder(
  dir: string,
  label: string,
  only?: readonly Direction[],
): Promise<{ manifest: ModelManifest; directions: Direction[]; files: Record<string, string> }> {
  const where = `${label}/${MANIFEST_FILE}`;
  const manifest = await readManifest(dir, where);
  if (!MODEL_NAME_PATTERN.test(manifest.name))
    throw new Error(`${where}: name '${manifest.name}' must be ${MODEL_NAME_WORDS}`);
  const directions = DIRECTIONS.filter((d) => manifest.directions[d] && (!only || only.includes(d)));
  if (directions.length === 0)
    throw new Error(
      `${where}: no ${only!.join('/')} generator (directions: ${DIRECTIONS.filter((d) => manifest.directions[d]).join(', ')})`,
    );
  const files: Record<string, string> = {};
  for (const d of directions) {
    const entry = manifest.directions[d]!;
    const file = path.join(dir, entry.file);
    const st = await fs.stat(file).catch(() => null);
    if (!st?.isFile()) throw new Error(`${where}: ${d} file ${entry.file} is missing`);
    if (entry.sha256 && (await sha256File(file)) !== entry.sha256)
      throw new Error(`${where}: ${d} file ${entry.file} does not match its sha256 (corrupt or replaced)`);
    files[d] = file;
    const others = [
      ['tiling graph', entry.tiling?.statistics],
      ['tiling graph', entry.tiling?.apply],
      ['weights file', entry.weights],
    ] as const;
    for (const [what, g] of others) {
      if (!g) continue;
      const st = await fs.stat(path.join(dir, g.file)).catch(() => null);
      if (!st?.isFile()) throw new Error(`${where}: ${d} ${what} ${g.file} is missing`);
      if ((await sha256File(path.join(dir, g.file))) !== g.sha256)
        throw new Error(`${where}: ${d} ${what} ${g.file} does not match its sha256 (corrupt or replaced)`);
    }
  }
  return { manifest, directions, files };
}

/** Absolute paths of each direction's tiling graphs (checked against their sha256 when first opened). */
export function tilingFiles(dir: string, m: ModelManifest, directions: Direction[]): LoadRequest['tilingFiles'] {
  const files: NonNullable<LoadRequest['tilingFiles']> = {};
  for (const d of directions) {
    const t = m.directions[d]?.tiling;
    if (t?.statistics && t.apply)
      files[d] = { statistics: path.join(dir, t.statistics.file), apply: path.join(dir, t.apply.file) };
  }
  return files;
}
