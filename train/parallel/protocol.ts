/** Messages between ParallelTrainingModel (main thread) and its two side workers. */
import type { Losses, VisualName } from '../model/trainingModel';
import type { Side } from '../model/cycleGan';
import type { ImageBatch, ModelState, PartialModelState, Shape4, TrainingModelOptions } from '../model/modelState';
import type { ExchangeBuffers, GradientLayout } from './gradientExchange';

/** What computes a side: tfjs on a CPU backend, or onnxruntime. */
export type SideEngine =
  | {
      engine: 'tfjs';
      /** The tfjs backend the main thread runs ('wasm' or 'cpu'). */
      backend: string;
      /** XNNPACK threads of this worker's wasm backend (1: the single-threaded build; core/tf/wasmThreads.ts). */
      wasmThreads: number;
    }
  | {
      engine: 'onnxruntime';
      /** onnxruntime intra-op threads of this worker's sessions. */
      threads: number;
    };

export interface SideWorkerData {
  side: Side;
  engine: SideEngine;
  opts: TrainingModelOptions;
  layout: GradientLayout;
  buffers: ExchangeBuffers;
}

/** Request name → its arguments and the worker's answer. */
export interface SideRequests {
  load: { args: { state: ModelState }; result: null };
  /** First half of an iteration: this side's G gradient, published to the exchange (onnxruntime: then its D step). */
  generatorGradients: {
    args: { iteration: number; a: Float32Array; shapeA: Shape4; b: Float32Array; shapeB: Shape4 };
    result: null;
  };
  /** Second half, once both gradients are published: G step with their sum (tfjs: then this side's D step). */
  completeStep: { args: { iteration: number }; result: Partial<Losses> };
  setLearningRate: { args: { lr: number }; result: null };
  visuals: { args: Record<string, never>; result: Partial<Record<VisualName, ImageBatch>> };
  exportState: { args: Record<string, never>; result: PartialModelState };
  close: { args: Record<string, never>; result: null };
}

export type RequestName = keyof SideRequests;

export type ToSideWorker = {
  [K in RequestName]: { id: number; type: K; args: SideRequests[K]['args'] };
}[RequestName];

export type FromSideWorker =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string }
  /** A line for the training log (a slow path taken), outside any answer. */
  | { log: string };

export type SideHandlers = {
  [K in RequestName]: (args: SideRequests[K]['args']) => Promise<SideRequests[K]['result']>;
};
