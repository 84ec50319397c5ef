/**
 * A training worker thread holding one side of the CycleGAN loss (see train/model/cycleGan.ts):
 * copies of G_A and G_B, the side's discriminator, the pool of the side's fakes and its random
 * stream, on its own tfjs backend. Started by parallelTrainingModel.ts; ortSideWorker.ts is the same
 * on onnxruntime.
 */
import { workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendChoice } from '../../core/tf/backend';
import type { GeneratorGradients } from './cycleGanModel';
import { TfjsPooledModel } from './tfjsPooledModel';
import { GradientExchange } from '../parallel/gradientExchange';
import type { SideHandlers, SideWorkerData } from '../parallel/protocol';
import { serveSideRequests } from '../parallel/sideServer';

const init = workerData as SideWorkerData;
const exchange = new GradientExchange(init.layout, init.buffers, init.side);

let replica: TfjsPooledModel | undefined;
/** Between the two halves of an iteration: the batches and this side's generator gradients. */
let pending: { iteration: number; a: tf.Tensor4D; b: tf.Tensor4D; g: GeneratorGradients } | undefined;

function model() {
  if (!replica) throw new Error('no model loaded');
  return replica.model;
}

function dropPending(): void {
  if (!pending) return;
  tf.dispose([pending.a, pending.b, ...pending.g.grads.values(), ...Object.values(pending.g.images)]);
  pending = undefined;
}

const handlers: SideHandlers = {
  async load({ state }) {
    dropPending();
    if (replica) replica.importState(state);
    else replica = new TfjsPooledModel(init.opts, [init.side], state);
    return null;
  },
  async generatorGradients({ iteration, a, shapeA, b, shapeB }) {
    dropPending();
    const ta = tf.tensor4d(a, shapeA);
    const tb = tf.tensor4d(b, shapeB);
    const g = await model().generatorGradients(ta, tb);
    pending = { iteration, a: ta, b: tb, g };
    exchange.publish(
      new Map(await Promise.all([...g.grads].map(async ([key, t]) => [key, await t.data()] as const))),
      iteration,
    );
    return null;
  },
  async completeStep({ iteration }) {
    const p = pending;
    if (!p || p.iteration !== iteration) throw new Error(`completeStep(${iteration}) without its generator gradients`);
    pending = undefined;
    try {
      const other = exchange.other(iteration);
      const sum = new Map(
        [...p.g.grads].map(([key, g]) => [
          key,
          tf.tidy(() => tf.add(g, tf.tensor(other.get(key)!, g.shape, 'float32'))),
        ]),
      );
      return await model().completeStep(p.a, p.b, p.g, sum);
    } finally {
      tf.dispose([p.a, p.b]);
    }
  },
  async setLearningRate({ lr }) {
    model().learningRate = lr;
    return null;
  },
  async visuals() {
    return model().visualImages();
  },
  async exportState() {
    if (!replica) throw new Error('no model loaded');
    return replica.exportState();
  },
  async close() {
    dropPending();
    replica?.dispose();
    replica = undefined;
    return null;
  },
};

if (init.engine.engine !== 'tfjs') throw new Error('tfjsSideWorker.ts computes sides on tfjs');
serveSideRequests(handlers, initBackend(parseBackendChoice(init.engine.backend), undefined, init.engine.wasmThreads));
