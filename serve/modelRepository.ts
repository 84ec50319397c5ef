/**
 * The model repository: `MODELS_DIR/<folder>/model.json` + ONNX files, loaded at start into
 * inference workers and warmed up, then kept in step with the folder while serving
 * (inference/liveModels.ts, inference/modelsDirWatcher.ts; MODEL_CONTROL). Requests name models
 * only by the manifest name, or a folder found by the directory scan, looked up in this in-memory
 * registry, so nothing a client sends ever becomes a file path.
 */
import type { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { MANIFEST_FILE } from '../core/modelManifest';
import { LiveModelRegistry, type ModelFolderStatus, type ModelLease } from '../inference/liveModels';
import type { Model } from '../inference/model';
import { openModel } from '../inference/openModel';
import { skippedLogLevel } from '../inference/providers';
import { scanModelsDir, type ModelsDirEntry } from '../inference/modelsDirScan';
import { fingerprintModelsDir, ModelsDirWatcher, type FolderChange } from '../inference/modelsDirWatcher';
import type { ExecutionProviderName } from '../core/onnx/ortRuntime';
import { sessionSettings, type Config } from './config';

/** A model the server has loaded (the inference layer's Model, registered under its manifest name). */
export type LoadedModel = Model;

export interface ModelFailure {
  folder: string;
  error: string;
}

export class ModelRepository {
  state: 'loading' | 'loaded' | 'closed' = 'loading';
  /** Observes every completed batch (the app points this at its metrics). */
  onBatch: ((model: string, direction: string, size: number, ms: number) => void) | null = null;
  /** Providers that failed where a later one worked: not retried for the next models. */
  private readonly unavailable = new Set<ExecutionProviderName>();
  private readonly live: LiveModelRegistry;
  private watcher: ModelsDirWatcher | null = null;
  /** Folder fingerprints at the start of the initial load (what the watcher compares with). */
  private initialFingerprints: Promise<Map<string, string>> | null = null;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.live = new LiveModelRegistry({
      open: (dir, folder) => this.openFolder(folder, dir),
      onLoaded: (model, folder, version) => this.logLoaded(model, folder, version),
      onFailed: (folder, reason) => this.log.error(`model folder ${folder}/ failed to load: ${reason}`),
    });
  }

  private get root(): string {
    return path.resolve(this.config.MODELS_DIR);
  }

  /** Name → serving model: the versions requests get now. */
  get models(): ReadonlyMap<string, LoadedModel> {
    return this.live.models;
  }

  /** Folders with no version serving because theirs failed to load. */
  get failures(): ModelFailure[] {
    return this.live.failures();
  }

  /** Every model folder the server knows: state, version serving, reason (GET /v1/models). */
  statuses(): ModelFolderStatus[] {
    return this.live.statuses();
  }

  /** The version (content hash, inference/modelFolderStage.ts) a loaded model is. */
  versionOf(model: LoadedModel): string {
    return this.live.versionOf(model) ?? 'unknown';
  }

  /**
   * The model `name` names (the default model when undefined) with a lease that lasts until
   * `until` (a response) emits 'close': a version replaced meanwhile closes only after that.
   */
  acquire(name: string | undefined, until: EventEmitter): ModelLease | undefined {
    const resolved = name ?? this.defaultModel()?.name;
    const lease = resolved === undefined ? undefined : this.live.acquire(resolved);
    if (lease) until.once('close', lease.release);
    return lease;
  }

  /** Loads every model folder; never throws (failures are recorded, logged and make /readyz 503). */
  async load(): Promise<void> {
    const root = this.root;
    this.initialFingerprints = fingerprintModelsDir(root);
    await this.initialFingerprints;
    let entries: ModelsDirEntry[];
    try {
      entries = await scanModelsDir(root);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.log.warn(`models directory ${root} cannot be read (${code ?? String(e)}): no models loaded`);
      entries = [];
    }
    for (const { folder, dir, hasManifest } of entries) {
      if (this.state !== 'loading') break;
      if (!hasManifest) {
        this.log.warn(`models directory: ${folder}/ has no ${MANIFEST_FILE}, ignored`);
        continue;
      }
      await this.live.load(folder, dir, 'initial');
    }
    if (this.state === 'loading') this.state = 'loaded';
    if (this.models.size === 0 && this.failures.length === 0)
      this.log.warn(`no models in ${root}: the server runs but /readyz stays 503 and /translate answers 503`);
    else this.log.info(`${this.models.size} model(s) ready: ${[...this.models.keys()].join(', ') || '(none)'}`);
  }

  /**
   * Follows MODELS_DIR from the initial load on (MODEL_CONTROL=poll): folders that settle after a
   * change are loaded, reloaded or dropped in the background.
   */
  watch(): void {
    if (this.watcher || this.state === 'closed') return;
    void (async () => {
      const applied = new Map(await (this.initialFingerprints ?? fingerprintModelsDir(this.root)));
      if (this.state === 'closed') return;
      this.watcher = new ModelsDirWatcher(
        this.root,
        applied,
        { pollMs: this.config.MODELS_POLL_MS, settleMs: this.config.MODELS_SETTLE_MS },
        (change) => void this.follow(change),
      );
      this.watcher.start();
    })();
  }

  /** One scan of MODELS_DIR now, acting on what has settled (tests; the watcher does this itself). */
  async scanNow(): Promise<void> {
    await this.watcher?.scan();
  }

  private async follow({ folder, dir, fingerprint }: FolderChange): Promise<void> {
    if (this.state === 'closed') return;
    const hasManifest = fingerprint !== null && fingerprint.includes(`|${MANIFEST_FILE}:f:`);
    if (!hasManifest) {
      if (this.live.status(folder)) {
        this.log.info(
          `model folder ${folder}/ ${fingerprint === null ? 'removed' : `has no ${MANIFEST_FILE}`}: unloading it`,
        );
        await this.live.unload(folder, 'removed');
      }
      return;
    }
    this.log.info(`model folder ${folder}/ ${this.live.status(folder) ? 'changed' : 'added'}: loading it`);
    await this.live.load(folder, dir, 'watch');
  }

  /** The folder a load/unload request names: a model's name (its folder) or a folder in MODELS_DIR. */
  private async folderNamed(name: string): Promise<{ folder: string; dir: string } | undefined> {
    const folder = this.live.folderOf(name) ?? name;
    const entries = await scanModelsDir(this.root).catch(() => []);
    const found = entries.find((e) => e.folder === folder);
    return found ? { folder: found.folder, dir: found.dir } : undefined;
  }

  /** POST /v1/models/{name}/load: reads the folder now; undefined when MODELS_DIR has no such folder. */
  async loadNamed(name: string): Promise<ModelFolderStatus | undefined> {
    const found = await this.folderNamed(name);
    if (!found) return undefined;
    return this.live.load(found.folder, found.dir, 'request');
  }

  /** POST /v1/models/{name}/unload: undefined when no model or folder of that name is known. */
  async unloadNamed(name: string): Promise<ModelFolderStatus | undefined> {
    const folder = this.live.folderOf(name) ?? (this.live.status(name) ? name : undefined);
    if (folder === undefined) return undefined;
    return this.live.unload(folder, 'request');
  }

  /** Opens one model folder (`folder` names it in messages) with the server's settings, every direction. */
  private openFolder(folder: string, dir: string): Promise<Model> {
    const c = this.config;
    return openModel(dir, {
      label: folder,
      providers: c.EXECUTION_PROVIDERS,
      session: sessionSettings(c),
      ortLogLevel: c.ORT_LOG_LEVEL,
      maxBatch: c.MAX_BATCH,
      gpuMaxBatch: c.GPU_MAX_BATCH,
      batchDelayMs: c.MAX_BATCH_DELAY_MS,
      maxQueue: c.MAX_QUEUE,
      limits: { maxPixels: c.MAX_PIXELS, maxInputPixels: c.MAX_INPUT_PIXELS },
      tiling: { tilePixels: c.TILE_PIXELS, stats: c.TILE_STATS, statsSide: c.TILE_STATS_SIDE },
      unavailable: this.unavailable,
    });
  }

  private logLoaded(model: Model, folder: string, version: string): void {
    const name = model.name;
    model.onBatch = (direction, size, ms) => this.onBatch?.(name, direction, size, ms);
    // Providers that failed are said once, on the line of the first model that skipped them.
    const skipped = model.skipped;
    const skippedText = skipped.map((p) => `${p.provider} unavailable: ${p.reason}`).join('; ');
    this.log[skippedLogLevel(skipped)](
      {
        model: name,
        folder,
        version,
        directions: model.directions,
        executionProvider: model.executionProvider,
        warmupMs: Math.round(model.warmupMs),
        skippedProviders: skipped.map((p) => p.provider),
      },
      `model '${name}' (${model.directions.join(', ')}) on ${model.executionProvider}, warmed up in ${Math.round(model.warmupMs)} ms` +
        (skippedText ? ` (${skippedText})` : ''),
    );
  }

  get(name: string): LoadedModel | undefined {
    return this.models.get(name);
  }

  /** DEFAULT_MODEL when set, else the alphabetically first loaded model. */
  defaultModel(): LoadedModel | undefined {
    if (this.config.DEFAULT_MODEL) return this.models.get(this.config.DEFAULT_MODEL);
    const first = [...this.models.keys()].sort()[0];
    return first === undefined ? undefined : this.models.get(first);
  }

  /** Ready: loading finished, at least one model, no folder failed, the default model (if set) present. */
  readiness(): { ready: true } | { ready: false; reason: string } {
    if (this.state === 'loading')
      return { ready: false, reason: `models are loading (${this.models.size} ready so far)` };
    if (this.state === 'closed') return { ready: false, reason: 'shutting down' };
    // Folders that fail after the start are reported per model (GET /v1/models) without taking
    // the whole server out of rotation: the other models keep serving.
    const failed = this.live.initialFailures();
    if (failed.length > 0)
      return {
        ready: false,
        // Folder names only: the errors themselves may contain server paths and stay in the log.
        reason: `model folder(s) failed to load: ${failed.map((f) => f.folder).join(', ')} (details in the server log)`,
      };
    const dead = [...this.models.values()].filter((m) => !m.thread.alive).map((m) => m.name);
    if (dead.length > 0) return { ready: false, reason: `inference worker stopped for model(s): ${dead.join(', ')}` };
    if (this.models.size === 0) return { ready: false, reason: 'no models in the model repository (MODELS_DIR)' };
    if (this.config.DEFAULT_MODEL && !this.models.has(this.config.DEFAULT_MODEL))
      return { ready: false, reason: `DEFAULT_MODEL '${this.config.DEFAULT_MODEL}' is not loaded` };
    return { ready: true };
  }

  /** Stops following MODELS_DIR, waits for requests holding models, then releases every session. */
  async close(): Promise<void> {
    this.state = 'closed';
    this.watcher?.stop();
    await this.live.close();
  }
}
