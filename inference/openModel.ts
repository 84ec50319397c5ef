/**
 * Opens a model folder for inference: checks its files (modelFiles.ts), starts the inference
 * worker, opens and warms up the sessions with execution-provider fallback, and sizes the batches.
 */
import * as path from 'node:path';
import { InferenceThread } from './inferenceThread';
import { Model, type ModelSettings } from './model';
import { directionChannels, readModelFolder, tilingFiles } from './modelFiles';
import { DEFAULT_SESSION_SETTINGS, GPU_PROVIDERS } from './providers';
import type { ExecutionProviderName } from '../core/onnx/ortRuntime';

/** Opens a model folder: checks the manifest and files, opens and warms up the sessions. */
export async function openModel(dir: string, settings: ModelSettings): Promise<Model> {
  const label = settings.label ?? path.basename(dir);
  const { manifest, directions, files } = await readModelFolder(dir, label, settings.directions);
  const side = Math.max(
    manifest.sizeMultiple,
    Math.round(manifest.preferredSize / manifest.sizeMultiple) * manifest.sizeMultiple,
  );
  const warmup: Record<string, number[]> = {};
  for (const d of directions) warmup[d] = [1, directionChannels(manifest, d).in, side, side];

  const unavailable = settings.unavailable ?? new Set<ExecutionProviderName>();
  const thread = new InferenceThread({ ortLogLevel: settings.ortLogLevel ?? 'fatal' });
  const providers = settings.providers.filter((p) => !unavailable.has(p));
  let loaded;
  try {
    if (providers.length === 0) throw new Error('every configured execution provider is unavailable');
    loaded = await thread.load({
      files,
      inputName: manifest.io.input,
      outputName: manifest.io.output,
      providers,
      settings: { ...DEFAULT_SESSION_SETTINGS, ...settings.session },
      warmup,
      tilingFiles: tilingFiles(dir, manifest, directions),
    });
  } catch (e) {
    await thread.terminate();
    throw e;
  }
  const skipped = loaded.skipped.filter((s) => !unavailable.has(s.provider));
  for (const s of skipped) unavailable.add(s.provider);

  // A graph exported with a fixed batch dimension caps the batch size.
  const onGpu = Object.values(loaded.providers).some((p) => GPU_PROVIDERS.includes(p));
  let maxBatch = onGpu ? (settings.gpuMaxBatch ?? settings.maxBatch) : settings.maxBatch;
  for (const b of Object.values(loaded.batchDim)) if (typeof b === 'number') maxBatch = Math.min(maxBatch, b);

  const model = new Model(
    manifest.name,
    label,
    manifest,
    directions,
    loaded.providers as Model['providers'],
    maxBatch,
    thread,
    skipped,
    loaded.warmupMs,
    settings,
  );
  for (const [direction, ms] of Object.entries(loaded.warmRunMs)) {
    const [, , h, w] = warmup[direction];
    model.prices.observe(direction, 'plain', h * w, 1, ms);
  }
  return model;
}
