/**
 * A training worker thread holding one side of the CycleGAN loss (see train/cycleGanModel.ts):
 * copies of G_A and G_B, the side's discriminator, the pool of the side's fakes and its random
 * stream, on its own tfjs backend. Started by parallelTrainingModel.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseBackendChoice } from '../../core/tf/backend';
import type { GeneratorGradients } from '../cycleGanModel';
import { ModelReplica } from '../modelReplica';
import { GradientExchange } from './gradientExchange';
import type { FromSideWorker, RequestName, SideRequests, SideWorkerData, ToSideWorker } from './protocol';
import { firstLine } from '../../core/errorText';

const port = parentPort;
if (!port) throw new Error('sideWorker.ts must run in a worker thread');
const init = workerData as SideWorkerData;
const exchange = new GradientExchange(init.layout, init.buffers, init.side);

let replica: ModelReplica | undefined;
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

type Handlers = { [K in RequestName]: (args: SideRequests[K]['args']) => Promise<SideRequests[K]['result']> };

const handlers: Handlers = {
  async load({ state }) {
    dropPending();
    if (replica) replica.importState(state);
    else replica = new ModelReplica(init.opts, [init.side], state);
    return null;
  },
  async generatorGradients({ iteration, a, shapeA, b, shapeB }) {
    dropPending();
    const ta = tf.tensor4d(a, shapeA);
    const tb = tf.tensor4d(b, shapeB);
    const g = model().generatorGradients(ta, tb);
    pending = { iteration, a: ta, b: tb, g };
    exchange.publish(g.grads, iteration);
    return null;
  },
  async completeStep({ iteration }) {
    const p = pending;
    if (!p || p.iteration !== iteration) throw new Error(`completeStep(${iteration}) without its generator gradients`);
    pending = undefined;
    try {
      return model().completeStep(p.a, p.b, p.g, exchange.sum(p.g.grads, iteration));
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

function reply(m: FromSideWorker): void {
  port!.postMessage(m);
}

// One request at a time, in arrival order, once the backend is up (if it fails, every request says why).
const ready = initBackend(parseBackendChoice(init.backend), undefined, init.wasmThreads);
let queue: Promise<unknown> = Promise.resolve();
port.on('message', (msg: ToSideWorker) => {
  queue = queue
    .then(() => ready)
    .then(() => (handlers[msg.type] as (args: unknown) => Promise<unknown>)(msg.args))
    .then(
      (value) => reply({ id: msg.id, ok: true, value }),
      (e: unknown) => reply({ id: msg.id, ok: false, error: firstLine(e) }),
    );
  if (msg.type === 'close') void queue.then(() => port.close());
});
