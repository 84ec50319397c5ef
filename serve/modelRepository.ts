/**
 * The model repository: `MODELS_DIR/<folder>/model.json` + ONNX files, loaded once at start into
 * inference workers and warmed up. Requests name models only by the manifest name, looked up in
 * this in-memory registry, so nothing a client sends ever becomes a file path.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { MANIFEST_FILE, parseManifest, type Direction, type ModelManifest } from '../core/modelManifest';
import { Batcher, type RunBatch } from './batcher';
import { GPU_PROVIDERS, type Config, type ExecutionProviderName } from './config';
import { InferenceThread } from './inferenceThread';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DIRECTIONS: readonly Direction[] = ['AtoB', 'BtoA'];

export interface LoadedModel {
  name: string;
  folder: string;
  manifest: ModelManifest;
  directions: Direction[];
  /** Provider per direction; `executionProvider` summarises them. */
  providers: Partial<Record<Direction, ExecutionProviderName>>;
  executionProvider: string;
  maxBatch: number;
  batcher: Batcher;
  /** Runs one batch on the worker; the batcher calls through this field, so tests may wrap it. */
  infer: RunBatch;
  thread: InferenceThread;
}

export interface ModelFailure {
  folder: string;
  error: string;
}

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
    let entries: string[];
    try {
      entries = (await fs.readdir(root)).filter((e) => !e.startsWith('.')).sort();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.log.warn(`models directory ${root} cannot be read (${code ?? String(e)}): no models loaded`);
      entries = [];
    }
    for (const folder of entries) {
      if (this.state !== 'loading') break;
      const dir = path.join(root, folder);
      const stat = await fs.stat(dir).catch(() => null);
      if (!stat?.isDirectory()) continue;
      if (!(await fs.stat(path.join(dir, MANIFEST_FILE)).catch(() => null))) {
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
   * directions loaded (the batch CLI needs one); by default every direction in the manifest.
   */
  async loadFolder(folder: string, dir: string, only?: readonly Direction[]): Promise<LoadedModel> {
    const where = `${folder}/${MANIFEST_FILE}`;
    let json: unknown;
    try {
      json = JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8'));
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
    const manifest = parseManifest(json, where);
    if (!MODEL_NAME_PATTERN.test(manifest.name))
      throw new Error(`${where}: name '${manifest.name}' must match ${MODEL_NAME_PATTERN.source}`);
    if (this.models.has(manifest.name)) throw new Error(`${where}: model name '${manifest.name}' is already taken`);

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
    }

    const side = Math.max(
      manifest.sizeMultiple,
      Math.round(manifest.preferredSize / manifest.sizeMultiple) * manifest.sizeMultiple,
    );
    const warmup: Record<string, number[]> = {};
    for (const d of directions) warmup[d] = [1, directionChannels(manifest, d).in, side, side];

    const thread = new InferenceThread({ ortLogLevel: this.config.ORT_LOG_LEVEL });
    const providers = this.config.EXECUTION_PROVIDERS.filter((p) => !this.unavailable.has(p));
    let loaded;
    try {
      if (providers.length === 0) throw new Error('every configured execution provider is unavailable');
      loaded = await thread.load({
        files,
        inputName: manifest.io.input,
        outputName: manifest.io.output,
        providers,
        settings: {
          intraOpThreads: this.config.ORT_INTRA_OP_THREADS,
          interOpThreads: this.config.ORT_INTER_OP_THREADS,
          graphOptimization: this.config.ORT_GRAPH_OPTIMIZATION,
          cpuMemArena: this.config.ORT_ENABLE_CPU_MEM_ARENA,
          memPattern: this.config.ORT_ENABLE_MEM_PATTERN,
          webgpuLayout: this.config.ORT_WEBGPU_LAYOUT,
          webgpuGraphCapture: this.config.ORT_WEBGPU_GRAPH_CAPTURE,
        },
        warmup,
      });
    } catch (e) {
      await thread.terminate();
      throw e;
    }
    // Providers that failed are said once, on the line of the first model that skipped them.
    const newlySkipped = loaded.skipped.filter((p) => !this.unavailable.has(p.provider));
    for (const p of newlySkipped) this.unavailable.add(p.provider);

    // A graph exported with a fixed batch dimension caps the batch size.
    const onGpu = Object.values(loaded.providers).some((p) => GPU_PROVIDERS.includes(p));
    let maxBatch = onGpu ? this.config.GPU_MAX_BATCH : this.config.MAX_BATCH;
    for (const b of Object.values(loaded.batchDim)) if (typeof b === 'number') maxBatch = Math.min(maxBatch, b);

    const name = manifest.name;
    const model: LoadedModel = {
      name,
      folder,
      manifest,
      directions,
      providers: loaded.providers as LoadedModel['providers'],
      executionProvider: [...new Set(Object.values(loaded.providers))].join(','),
      maxBatch,
      thread,
      infer: (direction, data, dims) => thread.run(direction, data, dims),
      batcher: undefined as unknown as Batcher,
    };
    model.batcher = new Batcher({
      maxBatch,
      maxDelayMs: this.config.MAX_BATCH_DELAY_MS,
      maxQueue: this.config.MAX_QUEUE,
      run: (direction, data, dims) => model.infer(direction, data, dims),
      onBatch: (direction, size, ms) => this.onBatch?.(name, direction, size, ms),
    });
    this.models.set(name, model);
    const skippedText = newlySkipped.map((p) => `${p.provider} unavailable: ${p.reason}`).join('; ');
    this.log[newlySkipped.length ? 'warn' : 'info'](
      {
        model: name,
        folder,
        directions,
        executionProvider: model.executionProvider,
        warmupMs: Math.round(loaded.warmupMs),
        skippedProviders: newlySkipped.map((p) => p.provider),
      },
      `model '${name}' (${directions.join(', ')}) on ${model.executionProvider}, warmed up in ${Math.round(loaded.warmupMs)} ms` +
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
    await Promise.all([...this.models.values()].map((m) => m.batcher.idle()));
    await Promise.all([...this.models.values()].map((m) => m.thread.close()));
  }
}
