/**
 * What the dataset recipes (emoji.ts, openmoji.ts) share: installing their source packages into a
 * cache folder with npm, reading a JSON file with an error that names it, writing the dataset folder
 * atomically, bounded parallel conversion, and the split paragraph of ATTRIBUTION.md.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { firstLine } from '../../core/errorText';

async function installedVersion(dir: string): Promise<string | null> {
  try {
    return (
      (JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? null
    );
  } catch {
    return null;
  }
}

function runNpm(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // npm's own output goes to stderr so stdout stays the script's result.
    const child = spawn('npm', args, { stdio: ['ignore', 2, 2], shell: process.platform === 'win32' });
    child.on('error', (e) => reject(new Error(`could not run npm: ${e.message}`)));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`npm ${args.slice(0, 2).join(' ')} … failed (exit code ${code})`)),
    );
  });
}

/**
 * Installs `names` at `version` into `cache` (npm --prefix, no scripts, no lock) unless that
 * version of each is already there; returns each package's folder. `download` is the size the
 * log line announces.
 */
export async function ensureCachedPackages<N extends string>(
  cache: string,
  names: readonly N[],
  version: string,
  download: string,
): Promise<Record<N, string>> {
  const dirs = Object.fromEntries(names.map((n) => [n, path.join(cache, 'node_modules', n)])) as Record<N, string>;
  const have = await Promise.all(names.map((n) => installedVersion(dirs[n])));
  if (have.every((v) => v === version)) return dirs;
  await fs.mkdir(cache, { recursive: true });
  const specs = names.map((n) => `${n}@${version}`);
  process.stderr.write(`installing ${specs.join(' and ')} into ${cache} (${download})\n`);
  await runNpm(['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', cache, ...specs]);
  for (const n of names) {
    const got = await installedVersion(dirs[n]);
    if (got !== version) throw new Error(`${n} in ${cache} is ${got ?? 'missing'} after npm install, expected ${version}`);
  }
  return dirs;
}

/** Parses a JSON file; a missing or malformed file fails naming it. */
export async function readJsonFile(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${firstLine(e)}`);
  }
}

/**
 * Builds the dataset folder `out`: `fill` writes into a sibling temp folder, which then replaces
 * `out` (an old `out` is moved aside first and removed after); on failure the temp folder goes.
 */
export async function writeDatasetFolder<T>(out: string, fill: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = `${out}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  try {
    const result = await fill(tmp);
    await fs.mkdir(path.dirname(out), { recursive: true });
    const old = `${out}.old-${process.pid}`;
    const exists = await fs.stat(out).catch(() => null);
    if (exists) await fs.rename(out, old);
    await fs.rename(tmp, out);
    if (exists) await fs.rm(old, { recursive: true, force: true });
    return result;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The "Split" section of a recipe's ATTRIBUTION.md (splitEmoji's rule, emojiSplit.ts). */
export function splitSection(unit: string, salt: string, testFraction: number): string {
  return `## Split

Each ${unit} is assigned by a SHA-256 hash of its code points salted with \`${salt}\`: test with
probability ${testFraction}, otherwise trainA or trainB with equal odds. The lists are in \`dataset.json\`.
`;
}
