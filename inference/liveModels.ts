/**
 * The models a server holds, loaded and replaced while it serves, as a model server does. Each
 * model folder has one entry. Loading a folder (at start, when the watcher reports it changed, or on
 * request) copies it to a private stage (modelFolderStage.ts), opens and warms up its sessions, and
 * only then switches: one Map update, so a request finds either the old version or the new one.
 * Requests hold a lease on the version they got; a replaced or removed version stops taking new
 * requests at once and closes its sessions when its last lease is released. A folder that fails to
 * load is reported with the reason and, where an older version serves, that one keeps serving.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstLine } from '../core/errorText';
import type { Model } from './model';
import { stageModelFolder } from './modelFolderStage';

export type ModelFolderState = 'loading' | 'ready' | 'failed' | 'unloaded';

/** What GET /v1/models reports per folder. */
export interface ModelFolderStatus {
  folder: string;
  /** The manifest's name, once a version of the folder has loaded. */
  name?: string;
  state: ModelFolderState;
  /** The version serving requests (absent unless ready). */
  version?: string;
  /** Why it is failed or unloaded, or why the folder's newer files are not the version serving. */
  reason?: string;
}

export interface ModelLease {
  model: Model;
  version: string;
  /** Ends the lease (idempotent); the version closes once replaced and its last lease is released. */
  release(): void;
}

export interface LiveModelsOptions {
  /** Opens and warms up the model in `dir` (a stage), naming it `folder` in messages. */
  open(dir: string, folder: string): Promise<Model>;
  /** Told of each version that starts serving and each load that fails (for the log). */
  onLoaded?(model: Model, folder: string, version: string): void;
  onFailed?(folder: string, reason: string): void;
  /** Parent of the stage folders (default a new temp folder). */
  stagingRoot?: string;
}

interface Served {
  model: Model;
  version: string;
  stage: string;
  leases: number;
  /** Set once replaced or removed: called when the last lease is released. */
  idle: (() => void) | null;
}

interface Entry {
  folder: string;
  state: ModelFolderState;
  reason?: string;
  served: Served | null;
  /** Present when the server started; its failures count against readiness. */
  initial: boolean;
  /** Unloaded on request: the watcher leaves it alone until it is loaded on request again. */
  pinned: boolean;
  /** Loads and removals of one folder run one after the other. */
  queue: Promise<unknown>;
}

export class LiveModelRegistry {
  /** Model name → the version serving it: what requests look up. */
  readonly models = new Map<string, Model>();
  private readonly entries = new Map<string, Entry>();
  private readonly served = new WeakMap<Model, Served>();
  private readonly retiring = new Set<Promise<void>>();
  private stagingRoot: Promise<string> | null = null;
  private closed = false;

  constructor(private readonly options: LiveModelsOptions) {}

  /** Every known folder, in name order. */
  statuses(): ModelFolderStatus[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.folder < b.folder ? -1 : 1))
      .map((e) => ({
        folder: e.folder,
        ...(e.served && { name: e.served.model.name, version: e.served.version }),
        state: e.state,
        ...(e.reason !== undefined && { reason: e.reason }),
      }));
  }

  status(folder: string): ModelFolderStatus | undefined {
    return this.statuses().find((s) => s.folder === folder);
  }

  /** Folders in the initial load that have no version serving because theirs failed. */
  initialFailures(): { folder: string; error: string }[] {
    return [...this.entries.values()]
      .filter((e) => e.initial && e.state === 'failed')
      .map((e) => ({ folder: e.folder, error: e.reason ?? 'failed' }));
  }

  failures(): { folder: string; error: string }[] {
    return [...this.entries.values()]
      .filter((e) => e.state === 'failed')
      .map((e) => ({ folder: e.folder, error: e.reason ?? 'failed' }));
  }

  /** The folder that serves model `name`, if any. */
  folderOf(name: string): string | undefined {
    const m = this.models.get(name);
    return m ? [...this.entries.values()].find((e) => e.served?.model === m)?.folder : undefined;
  }

  /** The version a loaded model is (undefined for a model this registry does not hold). */
  versionOf(model: Model): string | undefined {
    return this.served.get(model)?.version;
  }

  /** The model serving `name` and a lease on it, or undefined when none serves that name. */
  acquire(name: string): ModelLease | undefined {
    const model = this.models.get(name);
    const s = model && this.served.get(model);
    if (!model || !s) return undefined;
    s.leases++;
    let released = false;
    return {
      model,
      version: s.version,
      release: () => {
        if (released) return;
        released = true;
        if (--s.leases === 0) s.idle?.();
      },
    };
  }

  /**
   * Loads (or reloads) `folder` from `dir`: resolves to its status once the new version serves
   * or the load failed. `how`: `initial` at start, `watch` for a change the watcher saw (ignored
   * while the folder is unloaded on request), `request` for an explicit load.
   */
  load(folder: string, dir: string, how: 'initial' | 'watch' | 'request'): Promise<ModelFolderStatus> {
    let e = this.entries.get(folder);
    if (!e) {
      e = {
        folder,
        state: 'loading',
        served: null,
        initial: how === 'initial',
        pinned: false,
        queue: Promise.resolve(),
      };
      this.entries.set(folder, e);
    }
    const entry = e;
    if (how === 'request') entry.pinned = false;
    return this.enqueue(entry, async () => {
      if (entry.pinned || this.closed) return;
      if (!entry.served) entry.state = 'loading';
      await this.loadVersion(entry, dir);
    });
  }

  /**
   * Stops serving `folder`: `removed` (gone from disk: the entry disappears) or `request` (it stays
   * listed as unloaded and the watcher leaves it alone until it is loaded on request).
   */
  unload(folder: string, why: 'removed' | 'request'): Promise<ModelFolderStatus | undefined> {
    const entry = this.entries.get(folder);
    if (!entry) return Promise.resolve(undefined);
    if (why === 'request') entry.pinned = true;
    return this.enqueue(entry, async () => {
      if (why === 'removed' && entry.pinned) return;
      const old = entry.served;
      entry.served = null;
      if (old) await this.retire(old);
      if (why === 'removed') this.entries.delete(folder);
      else {
        entry.state = 'unloaded';
        entry.reason =
          'unloaded on request (POST /v1/models/{name}/unload); POST /v1/models/{name}/load serves it again';
      }
    });
  }

  /** Stops every model: waits for their leases, closes their sessions, removes the stages. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map((e) => e.queue));
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        const s = e.served;
        e.served = null;
        if (s) await this.retire(s);
      }),
    );
    await Promise.all([...this.retiring]);
    if (this.stagingRoot && !this.options.stagingRoot)
      await fs.rm(await this.stagingRoot, { recursive: true, force: true });
  }

  private enqueue(entry: Entry, work: () => Promise<void>): Promise<ModelFolderStatus> {
    const run = entry.queue.then(work);
    entry.queue = run.catch(() => undefined);
    return run.then(() => this.status(entry.folder) ?? { folder: entry.folder, state: 'unloaded' });
  }

  private staging(): Promise<string> {
    this.stagingRoot ??= this.options.stagingRoot
      ? fs.mkdir(this.options.stagingRoot, { recursive: true }).then(() => this.options.stagingRoot!)
      : fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-models-'));
    return this.stagingRoot;
  }

  private async loadVersion(entry: Entry, dir: string): Promise<void> {
    let stage: { dir: string; version: string } | null = null;
    let model: Model | null = null;
    try {
      stage = await stageModelFolder(dir, await this.staging(), entry.folder);
      if (entry.served?.version === stage.version) {
        // The same files again (touched, or copied back unchanged): nothing to switch.
        await fs.rm(stage.dir, { recursive: true, force: true });
        entry.reason = undefined;
        return;
      }
      model = await this.options.open(stage.dir, entry.folder);
      const holder = this.models.get(model.name);
      if (holder && holder !== entry.served?.model)
        throw new Error(`model name '${model.name}' is already served by folder ${this.folderOf(model.name)}/`);
      if (this.closed) throw new Error('the server is shutting down');
      const next: Served = { model, version: stage.version, stage: stage.dir, leases: 0, idle: null };
      this.served.set(model, next);
      const old = entry.served;
      // The switch: from here on requests for this name get the new version.
      if (old && old.model.name !== model.name && this.models.get(old.model.name) === old.model)
        this.models.delete(old.model.name);
      this.models.set(model.name, model);
      entry.served = next;
      entry.state = 'ready';
      entry.reason = undefined;
      this.options.onLoaded?.(model, entry.folder, stage.version);
      if (old) void this.retire(old);
    } catch (e) {
      if (model) await model.close().catch(() => undefined);
      if (stage) await fs.rm(stage.dir, { recursive: true, force: true });
      // Messages name the folder, never the stage's or the models directory's path.
      let reason = firstLine(e);
      for (const p of [stage?.dir, dir]) if (p) reason = reason.split(p).join(entry.folder);
      if (entry.served) {
        entry.reason = `its current files failed to load, version ${entry.served.version} keeps serving: ${reason}`;
      } else {
        entry.state = 'failed';
        entry.reason = reason;
      }
      this.options.onFailed?.(entry.folder, reason);
    }
  }

  /** Takes a version out of service: no new leases, then closed once the last one is released. */
  private retire(s: Served): Promise<void> {
    if (this.models.get(s.model.name) === s.model) this.models.delete(s.model.name);
    const done = (async () => {
      if (s.leases > 0) await new Promise<void>((resolve) => (s.idle = resolve));
      await s.model.close();
      await fs.rm(s.stage, { recursive: true, force: true });
    })();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done)).catch(() => undefined);
    return done;
  }
}
