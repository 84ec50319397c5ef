/**
 * Worker-thread side of one model: owns its onnxruntime sessions. onnxruntime-node's `run` is
 * synchronous on the calling thread, so running it here keeps the HTTP event loop free (health
 * checks, uploads and decoding go on while a batch computes). Started by inferenceThread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { openSession, type ExecutionProviderName } from './providers';
import type { FromWorker, LoadRequest, SkippedProvider, ToWorker, WorkerInit } from './inferenceProtocol';
import { firstLine } from '../core/errorText';

const port = parentPort;
if (!port) throw new Error('inferenceWorker.ts must run in a worker thread');

const init = workerData as WorkerInit;
ort.env.logLevel = init.ortLogLevel;

const sessions = new Map<string, ort.InferenceSession>();
let inputName = 'input';
let outputName = 'output';

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

async function load(req: LoadRequest): Promise<void> {
  inputName = req.inputName;
  outputName = req.outputName;
  const providers: Record<string, ExecutionProviderName> = {};
  const skipped: SkippedProvider[] = [];
  const batchDim: Record<string, number | string> = {};
  const unavailable = new Set<ExecutionProviderName>();
  let warmupMs = 0;
  for (const [direction, file] of Object.entries(req.files)) {
    const opened = await openSession(file, req.providers, req.settings, unavailable);
    sessions.set(direction, opened.session);
    providers[direction] = opened.provider;
    skipped.push(...opened.skipped);
    const s = opened.session;
    if (!s.inputNames.includes(inputName))
      throw new Error(
        `${direction}: model.json io.input '${inputName}' is not a graph input (inputs: ${s.inputNames.join(', ')})`,
      );
    if (!s.outputNames.includes(outputName))
      throw new Error(
        `${direction}: model.json io.output '${outputName}' is not a graph output (outputs: ${s.outputNames.join(', ')})`,
      );
    const meta = s.inputMetadata.find((m) => m.name === inputName);
    const shape = meta && meta.isTensor ? meta.shape : [];
    if (shape.length !== 4) throw new Error(`${direction}: input '${inputName}' is not 4-D NCHW (shape [${shape}])`);
    batchDim[direction] = shape[0];
    // Warm-up: the first run allocates buffers and picks kernels; do it before declaring ready.
    const dims = req.warmup[direction];
    const t0 = performance.now();
    const x = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
    const out = await s.run({ [inputName]: x });
    const y = out[outputName];
    if (y.dims.length !== 4 || y.dims[0] !== dims[0])
      throw new Error(`${direction}: warm-up output has shape [${y.dims}] for input [${dims}]`);
    warmupMs += performance.now() - t0;
  }
  post({ type: 'loaded', providers, skipped, batchDim, warmupMs });
}

async function run(id: number, direction: string, data: Float32Array, dims: number[]): Promise<void> {
  const s = sessions.get(direction);
  if (!s) throw new Error(`no session for direction ${direction}`);
  const t0 = performance.now();
  const out = await s.run({ [inputName]: new ort.Tensor('float32', data, dims) });
  const ms = performance.now() - t0;
  const y = out[outputName];
  if (y.type !== 'float32') throw new Error(`output '${outputName}' is ${y.type}, expected float32`);
  // Copy into a buffer of our own so it can be transferred (not copied again) to the main thread.
  const result = new Float32Array(y.data as Float32Array);
  post({ type: 'result', id, data: result, dims: [...y.dims], ms }, [result.buffer as ArrayBuffer]);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'load':
      load(msg).catch((e) => post({ type: 'load-failed', error: firstLine(e) }));
      break;
    case 'run':
      run(msg.id, msg.direction, msg.data, msg.dims).catch((e) =>
        post({ type: 'run-failed', id: msg.id, error: firstLine(e) }),
      );
      break;
    case 'close':
      void Promise.all([...sessions.values()].map((s) => s.release())).finally(() => {
        post({ type: 'closed' });
        port.close();
      });
      break;
  }
});
