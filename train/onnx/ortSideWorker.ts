/**
 * A training worker thread holding one side of the CycleGAN loss on onnxruntime (OrtSideModel):
 * tfjsSideWorker.ts's requests, with the generator gradients through the same exchange; its D step
 * comes in the first half, as soon as its own fake is ready. Each worker updates only its side's
 * own generator and publishes it; the other copies it in before its next step (or export), when
 * the coordinator has seen both workers finish the iteration.
 */
import { workerData } from 'node:worker_threads';
import { OrtSideModel } from './ortSideModel';
import { GradientExchange, ownGenerator } from '../parallel/gradientExchange';
import type { SideHandlers, SideWorkerData } from '../parallel/protocol';
import { logToMain, serveSideRequests } from '../parallel/sideServer';

const init = workerData as SideWorkerData;
if (init.engine.engine !== 'onnxruntime') throw new Error('ortSideWorker.ts computes sides on onnxruntime');
const threads = init.engine.threads;
const exchange = new GradientExchange(init.layout, init.buffers, init.side);
const ownKeys = ownGenerator(init.layout, init.side).map((p) => p.key);

let side: OrtSideModel | undefined;
/** The iteration whose generator gradients the model holds. */
let pending: number | undefined;
/** The iteration whose update of the other side's generator is still to be copied in. */
let otherUpdated: number | undefined;

function model(): OrtSideModel {
  if (!side) throw new Error('no model loaded');
  return side;
}

/** The model, with the other side's generator as its worker last updated it. */
function current(): OrtSideModel {
  const m = model();
  if (otherUpdated !== undefined) {
    m.setOtherGenerator(exchange.otherWeights(otherUpdated));
    otherUpdated = undefined;
  }
  return m;
}

const handlers: SideHandlers = {
  async load({ state }) {
    pending = otherUpdated = undefined;
    if (side) await side.importState(state);
    else
      side = await OrtSideModel.open(init.opts, init.side, state, threads, (m) =>
        logToMain(`worker ${init.side}: ${m}`),
      );
    return null;
  },
  async generatorGradients({ iteration, a, shapeA, b, shapeB }) {
    pending = undefined;
    const m = current();
    exchange.publish(await m.generatorGradients(a, shapeA, b, shapeB), iteration);
    // The D step needs nothing of the other side: it runs while the other worker may still be busy.
    await m.discriminatorStep();
    pending = iteration;
    return null;
  },
  async completeStep({ iteration }) {
    if (pending !== iteration) throw new Error(`completeStep(${iteration}) without its generator gradients`);
    pending = undefined;
    const { losses, generator } = await model().updateGenerator(exchange.other(iteration, ownKeys));
    exchange.publishWeights(generator, iteration);
    otherUpdated = iteration;
    return losses;
  },
  async setLearningRate({ lr }) {
    await model().setLearningRate(lr);
    return null;
  },
  async visuals() {
    return model().visuals();
  },
  async exportState() {
    return current().exportState();
  },
  async close() {
    pending = otherUpdated = undefined;
    await side?.dispose();
    side = undefined;
    return null;
  },
};

serveSideRequests(handlers, Promise.resolve());
