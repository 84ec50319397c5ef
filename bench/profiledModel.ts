/**
 * The onnxruntime engine at a bench configuration with onnxruntime's profiler on for its step
 * sessions (bench/ortProfile.ts, bench/ortScaling.ts): iterations on random images, then each
 * step's profile, read and deleted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../core/rng';
import { initialModelState } from '../train/model/modelState';
import { OrtTrainingModel } from '../train/onnx/ortTrainingModel';
import { benchTrainingOptions, CONFIGS, type Config } from './networks';
import { takeProfile, type TraceEvent } from './ortTrace';

export interface ProfiledModel {
  config: Config;
  model: OrtTrainingModel;
  /** One iteration on fresh random images; its wall time in ms. */
  iterate(): Promise<number>;
  /** Ends the profiling of step `kind` ('G' or 'D') and returns its events. */
  profile(kind: 'G' | 'D'): TraceEvent[];
}

/** Runs `use` on a profiled model of the `size` configuration on `threads` threads, then disposes of it. */
export async function withProfiledModel<T>(
  size: number,
  threads: number,
  use: (m: ProfiledModel) => Promise<T>,
): Promise<T> {
  const config = CONFIGS.find((x) => x.size === size)!;
  const opts = benchTrainingOptions(`resnet_${config.nBlocks}blocks`, config.ngf, config.ndf);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  const prefix = path.join(dir, 'step-');
  const model = await OrtTrainingModel.open(opts, initialModelState(opts, new Rng(2), 2), threads, () => {}, prefix);
  try {
    const rng = new Rng(3);
    const shape: [number, number, number, number] = [1, size, size, 3];
    const image = () => Float32Array.from({ length: size * size * 3 }, () => 2 * rng.next() - 1);
    return await use({
      config,
      model,
      iterate: async () => {
        const [a, b] = [image(), image()];
        const t0 = performance.now();
        await model.optimize(a, shape, b, shape);
        return performance.now() - t0;
      },
      profile: (kind) => takeProfile(model.lastSession(kind), `${prefix}${kind}`),
    });
  } finally {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
