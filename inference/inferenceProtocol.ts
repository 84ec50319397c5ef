/** Messages between the main thread and a model's inference worker (inference/inferenceWorker.ts). */
import type { ExecutionProviderName, OrtLogLevel, SessionSettings } from '../core/onnx/ortRuntime';
import type { SkippedProvider } from './providers';

import type { Feed, Tensor, TilingGraph } from './tiling/tiledTranslate';

export interface WorkerInit {
  ortLogLevel: OrtLogLevel;
}

export interface LoadRequest {
  type: 'load';
  /** Direction → absolute ONNX file path (resolved from the manifest by the repository). */
  files: Record<string, string>;
  inputName: string;
  outputName: string;
  /** Providers to try, in order. */
  providers: ExecutionProviderName[];
  settings: SessionSettings;
  /** Input dims per direction for the warm-up run. */
  warmup: Record<string, number[]>;
  /** Direction → tiling graph → absolute ONNX path; opened on first use (inference/tiling). */
  tilingFiles?: Record<string, Partial<Record<'statistics' | 'apply', string>>>;
}

export interface RunRequest {
  type: 'run';
  id: number;
  direction: string;
  data: Float32Array;
  dims: number[];
}

/** One run of a direction's graph with named feeds (tiled execution); `plain` is the main session. */
export interface GraphRequest {
  type: 'graph';
  id: number;
  direction: string;
  graph: TilingGraph;
  feeds: Record<string, Feed>;
  fetch: string[];
}

export type ToWorker = LoadRequest | RunRequest | GraphRequest | { type: 'close' };

export interface Loaded {
  type: 'loaded';
  /** Provider each direction's session runs on. */
  providers: Record<string, ExecutionProviderName>;
  skipped: SkippedProvider[];
  /** The batch dimension as the ONNX graph declares it: a number when fixed, else its symbolic name. */
  batchDim: Record<string, number | string>;
  warmupMs: number;
  /** Per direction, a second warm-up run's milliseconds (the first one allocates): seeds costModel.ts. */
  warmRunMs: Record<string, number>;
}

export type FromWorker =
  | Loaded
  | { type: 'load-failed'; error: string }
  | { type: 'result'; id: number; data: Float32Array; dims: number[]; ms: number }
  | { type: 'run-failed'; id: number; error: string }
  | { type: 'graph-result'; id: number; outputs: Record<string, Tensor>; ms: number }
  | { type: 'closed' };
