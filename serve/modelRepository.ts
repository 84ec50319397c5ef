/**
 * The model repository: `MODELS_DIR/<folder>/model.json` + ONNX files, loaded once at start into
 * inference workers and warmed up. Requests name models only by the manifest name, looked up in
 * this in-memory registry, so nothing a client sends ever becomes a file path.
 */
import * as path from 'node:path';
import type { Logger } from 'pino';
import { MANIFEST_FILE, type Direction } from '../core/modelManifest';
import type { Model } from '../inference/model';
import { openModel } from '../inference/openModel';
import { skippedLogLevel } from '../inference/providers';
import { scanModelsDir, type ModelsDirEntry } from '../inference/modelsDirScan';
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
  readonly models = new Map<string, LoadedModel>();
  readonly failures: ModelFailure[] = [];
  /** Observes every completed batch (the app points this at its metrics). */
  onBatch: ((model: string, direction: string, size: number, ms: number) => void) | null = null;
  /** Providers that failed where a later one worked: not retried for the next models. */
  private readonly unavailable = new Set<ExecutionProviderName>();

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  /** Loads every model folder; never throws (failures are recorded, logged and make /readyz 503). */
  async load(): Promise<void> {
    const root = path.resolve(this.config.MODELS_DIR);
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
      try {
        await this.loadFolder(folder, dir);
      } catch (e) {
        const error = (e as Error).message;
        this.failures.push({ folder, error });
        this.log.error(`model folder ${folder}/ failed to load: ${error}`);
      }
    }
    if (this.state === 'loading') this.state = 'loaded';
    if (this.models.size === 0 && this.failures.length === 0)
      this.log.warn(`no models in ${root}: the server runs but /readyz stays 503 and /translate answers 503`);
    else this.log.info(`${this.models.size} model(s) ready: ${[...this.models.keys()].join(', ') || '(none)'}`);
  }

  /**
   * Loads one model folder (`folder` names it in messages) and registers it. `only` restricts the
   * directions loaded; by default every direction in the manifest.
   */
  async loadFolder(folder: string, dir: string, only?: readonly Direction[]): Promise<LoadedModel> {
    const c = this.config;
    const model = await openModel(dir, {
      label: folder,
      directions: only,
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
    const name = model.name;
    if (this.models.has(name)) {
      await model.close();
      throw new Error(`${folder}/${MANIFEST_FILE}: model name '${name}' is already taken`);
    }
    model.onBatch = (direction, size, ms) => this.onBatch?.(name, direction, size, ms);
    this.models.set(name, model);
    // Providers that failed are said once, on the line of the first model that skipped them.
    const skipped = model.skipped;
    const skippedText = skipped.map((p) => `${p.provider} unavailable: ${p.reason}`).join('; ');
    this.log[skippedLogLevel(skipped)](
      {
        model: name,
        folder,
        directions: model.directions,
        executionProvider: model.executionProvider,
        warmupMs: Math.round(model.warmupMs),
        skippedProviders: skipped.map((p) => p.provider),
      },
      `model '${name}' (${model.directions.join(', ')}) on ${model.executionProvider}, warmed up in ${Math.round(model.warmupMs)} ms` +
        (skippedText ? ` (${skippedText})` : ''),
    );
    return model;
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
    if (this.failures.length > 0)
      return {
        ready: false,
        // Folder names only: the errors themselves may contain server paths and stay in the log.
        reason: `model folder(s) failed to load: ${this.failures.map((f) => f.folder).join(', ')} (details in the server log)`,
      };
    const dead = [...this.models.values()].filter((m) => !m.thread.alive).map((m) => m.name);
    if (dead.length > 0) return { ready: false, reason: `inference worker stopped for model(s): ${dead.join(', ')}` };
    if (this.models.size === 0) return { ready: false, reason: 'no models in the model repository (MODELS_DIR)' };
    if (this.config.DEFAULT_MODEL && !this.models.has(this.config.DEFAULT_MODEL))
      return { ready: false, reason: `DEFAULT_MODEL '${this.config.DEFAULT_MODEL}' is not loaded` };
    return { ready: true };
  }

  /** Waits for queued and running batches, then releases every session. */
  async close(): Promise<void> {
    this.state = 'closed';
    await Promise.all([...this.models.values()].map((m) => m.close()));
  }
}
