/**
 * Notices model folders added to, replaced in or removed from a models directory. fs.watch
 * (recursive, so writes inside a folder count) says when to look; a poll looks anyway, for file
 * systems where watching misses events (network mounts, some container volumes). A folder is
 * reported only once it has settled: the same fingerprint (modelFolderStage.ts) on scans at least
 * `settleMs` apart. That hides the moment between the two renames of a replacing export
 * (export/atomicFolder.ts) and folders that a writer is still filling.
 */
import { watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { folderFingerprint } from './modelFolderStage';
import { scanModelsDir } from './modelsDirScan';

export interface ModelsDirWatcherOptions {
  /** Scan this often even without a file-system event. */
  pollMs: number;
  /** How long a folder must stay unchanged before it is reported. */
  settleMs: number;
}

/** A settled change: `fingerprint` null means the folder is gone. */
export interface FolderChange {
  folder: string;
  dir: string;
  fingerprint: string | null;
}

/** Fingerprints of every visible sub-folder of `root` (empty when `root` cannot be read). */
export async function fingerprintModelsDir(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const entries = await scanModelsDir(root).catch(() => []);
  for (const { folder, dir } of entries) {
    const fp = await folderFingerprint(dir);
    if (fp !== null) out.set(folder, fp);
  }
  return out;
}

export class ModelsDirWatcher {
  private readonly pending = new Map<string, { fingerprint: string | null; since: number }>();
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  /**
   * `applied`: the fingerprints the caller has acted on (its initial load); `onChange` is called
   * once per settled change and the change then counts as applied.
   */
  constructor(
    private readonly root: string,
    private readonly applied: Map<string, string>,
    private readonly options: ModelsDirWatcherOptions,
    private readonly onChange: (change: FolderChange) => void,
  ) {}

  start(): void {
    try {
      this.watcher = watch(this.root, { recursive: true }, () => this.scanSoon(50));
      // A watch that breaks (the directory removed, too many watches) leaves the poll in charge.
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null;
      });
    } catch {
      this.watcher = null;
    }
    this.poll = setInterval(() => this.scanSoon(0), this.options.pollMs);
    this.poll.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.soon) clearTimeout(this.soon);
  }

  /** One scan now (tests, and the poll); resolves when it and any scan it asked for are done. */
  async scan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        await this.scanOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private scanSoon(ms: number): void {
    if (this.stopped) return;
    if (this.soon) {
      clearTimeout(this.soon);
      this.soon = null;
    }
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.scan();
    }, ms);
    this.soon.unref();
  }

  private async scanOnce(): Promise<void> {
    const now = Date.now();
    const current = await fingerprintModelsDir(this.root);
    if (this.stopped) return;
    let wake = Infinity;
    for (const folder of new Set([...this.applied.keys(), ...current.keys(), ...this.pending.keys()])) {
      const fp = current.get(folder) ?? null;
      if (fp === (this.applied.get(folder) ?? null)) {
        this.pending.delete(folder);
        continue;
      }
      const p = this.pending.get(folder);
      if (!p || p.fingerprint !== fp) {
        this.pending.set(folder, { fingerprint: fp, since: now });
        wake = Math.min(wake, now + this.options.settleMs);
      } else if (now - p.since >= this.options.settleMs) {
        this.pending.delete(folder);
        if (fp === null) this.applied.delete(folder);
        else this.applied.set(folder, fp);
        this.onChange({ folder, dir: path.join(this.root, folder), fingerprint: fp });
      } else wake = Math.min(wake, p.since + this.options.settleMs);
    }
    if (wake < Infinity) this.scanSoon(Math.max(0, wake - Date.now()));
  }
}
