/**
 * A training worker thread holding one side of the CycleGAN loss on onnxruntime (OrtSideModel):
 * sideWorker.ts's requests, with the generator gradients through the same exchange.
 */
import { workerData } from 'node:worker_threads';
import { OrtSideModel } from '../onnx/ortSideModel';
import { GradientExchange } from './gradientExchange';
import type { SideHandlers, SideWorkerData } from './protocol';
import { logToMain, serveSideRequests } from './sideServer';

const init = workerData as SideWorkerData;
if (init.engine.engine !== 'onnxruntime') throw new Error('ortSideWorker.ts computes sides on onnxruntime');
const threads = init.engine.threads;
const exchange = new GradientExchange(init.layout, init.buffers, init.side);

let side: OrtSideModel | undefined;
/** The iteration whose generator gradients the model holds. */
let pending: number | undefined;

function model(): OrtSideModel {
  if (!side) throw new Error('no model loaded');
  return side;
}

const handlers: SideHandlers = {
  async load({ state }) {
    pending = undefined;
    if (side) await side.importState(state);
    else
      side = await OrtSideModel.open(init.opts, init.side, state, threads, (m) =>
        logToMain(`worker ${init.side}: ${m}`),
      );
    return null;
  },
  async generatorGradients({ iteration, a, shapeA, b, shapeB }) {
    pending = undefined;
    exchange.publish(await model().generatorGradients(a, shapeA, b, shapeB), iteration);
    pending = iteration;
    return null;
  },
  async completeStep({ iteration }) {
    if (pending !== iteration) throw new Error(`completeStep(${iteration}) without its generator gradients`);
    pending = undefined;
    return model().completeStep(exchange.other(iteration));
  },
  async setLearningRate({ lr }) {
    await model().setLearningRate(lr);
    return null;
  },
  async visuals() {
    return model().visuals();
  },
  async exportState() {
    return model().exportState();
  },
  async close() {
    pending = undefined;
    await side?.dispose();
    side = undefined;
    return null;
  },
};

serveSideRequests(handlers, Promise.resolve());
