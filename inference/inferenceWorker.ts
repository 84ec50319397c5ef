/**
 * Worker-thread side of one model: owns its onnxruntime sessions. onnxruntime-node's `run` is
 * synchronous on the calling thread, so running it here keeps the HTTP event loop free (health
 * checks, uploads and decoding go on while a batch computes). Started by inferenceThread.ts.
 *
 * Memory: onnxruntime's CPU arena keeps the high-water mark of every shape it has run and never
 * gives it back (one large request raises the server's RSS for good: bench/README.md). So inputs
 * larger than the warm-up size run on a second, lazily opened session without the arena, which
 * frees its buffers after each run; the usual sizes keep the arena's speed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  float32Tensor,
  int64Tensor,
  setOrtLogLevel,
  type ExecutionProviderName,
  type OrtSession,
  type OrtTensor,
  type SessionSettings,
} from '../core/onnx/ortRuntime';
import { collectSoon, LARGE_IMAGE_BYTES } from './memory';
import { openSession, type SkippedProvider } from './providers';
import type { FromWorker, GraphRequest, LoadRequest, ToWorker, WorkerInit } from './inferenceProtocol';
import { firstLine } from '../core/errorText';

const port = parentPort;
if (!port) throw new Error('inferenceWorker.ts must run in a worker thread');

const init = workerData as WorkerInit;
setOrtLogLevel(init.ortLogLevel);

const sessions = new Map<string, OrtSession>();
/** Arena-less sessions for inputs larger than the warm-up size, opened on first need. */
const leanSessions = new Map<string, Promise<OrtSession>>();
const files = new Map<string, string>();
const warmupPixels = new Map<string, number>();
const usedProvider = new Map<string, ExecutionProviderName>();
let settings: SessionSettings | null = null;
/** Tiling sessions by `direction/graph`, opened on first use with the direction's provider. */
const tilingSessions = new Map<string, Promise<OrtSession>>();
let tilingFiles: NonNullable<LoadRequest['tilingFiles']> = {};
let graphBytes = 0;
let inputName = 'input';
let outputName = 'output';

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

async function load(req: LoadRequest): Promise<void> {
  inputName = req.inputName;
  outputName = req.outputName;
  settings = req.settings;
  tilingFiles = req.tilingFiles ?? {};
  const providers: Record<string, ExecutionProviderName> = {};
  const skipped: SkippedProvider[] = [];
  const batchDim: Record<string, number | string> = {};
  const unavailable = new Set<ExecutionProviderName>();
  let warmupMs = 0;
  const warmRunMs: Record<string, number> = {};
  for (const [direction, file] of Object.entries(req.files)) {
    const opened = await openSession(file, req.providers, req.settings, unavailable);
    sessions.set(direction, opened.session);
    files.set(direction, file);
    usedProvider.set(direction, opened.provider);
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
    warmupPixels.set(direction, dims[2] * dims[3]);
    const t0 = performance.now();
    const x = float32Tensor(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
    const out = await s.run({ [inputName]: x });
    const y = out[outputName];
    if (y.dims.length !== 4 || y.dims[0] !== dims[0])
      throw new Error(`${direction}: warm-up output has shape [${y.dims}] for input [${dims}]`);
    warmupMs += performance.now() - t0;
    const t1 = performance.now();
    await s.run({ [inputName]: x });
    warmRunMs[direction] = performance.now() - t1;
  }
  post({ type: 'loaded', providers, skipped, batchDim, warmupMs, warmRunMs });
}

/** The session for this input: the arena one up to the warm-up size, else the arena-less one. */
function sessionFor(direction: string, dims: number[]): Promise<OrtSession> | OrtSession {
  const s = sessions.get(direction);
  if (!s) throw new Error(`no session for direction ${direction}`);
  const large = dims[0] * dims[2] * dims[3] > (warmupPixels.get(direction) ?? Infinity);
  if (!large || !settings?.cpuMemArena || usedProvider.get(direction) !== 'cpu') return s;
  let lean = leanSessions.get(direction);
  if (!lean) {
    lean = openSession(files.get(direction)!, ['cpu'], { ...settings, cpuMemArena: false }).then((o) => o.session);
    leanSessions.set(direction, lean);
    lean.catch(() => leanSessions.delete(direction));
  }
  return lean;
}

async function run(id: number, direction: string, data: Float32Array, dims: number[]): Promise<void> {
  const s = await sessionFor(direction, dims);
  const t0 = performance.now();
  const out = await s.run({ [inputName]: float32Tensor(data, dims) });
  const ms = performance.now() - t0;
  const y = out[outputName];
  if (y.type !== 'float32') throw new Error(`output '${outputName}' is ${y.type}, expected float32`);
  // Copy into a buffer of our own so it can be transferred (not copied again) to the main thread.
  const result = new Float32Array(y.data as Float32Array);
  post({ type: 'result', id, data: result, dims: [...y.dims], ms }, [result.buffer as ArrayBuffer]);
  // The input and onnxruntime's output tensor are garbage now; collect them while idle.
  if (data.byteLength + result.byteLength > LARGE_IMAGE_BYTES) collectSoon();
}

/**
 * Tiling graphs run one tile at a time with shapes that vary at the image's edges: no memory
 * arena or pattern, so the memory of a large image's tiles goes back once it is done.
 */
function tilingSession(direction: string, graph: 'statistics' | 'apply'): Promise<OrtSession> {
  const key = `${direction}/${graph}`;
  let s = tilingSessions.get(key);
  if (!s) {
    const file = tilingFiles[direction]?.[graph];
    const provider = usedProvider.get(direction);
    if (!file || !settings || !provider) return Promise.reject(new Error(`${direction} has no ${graph} graph`));
    s = openSession(file, [provider], { ...settings, cpuMemArena: false, memPattern: false }).then((o) => o.session);
    s.catch(() => tilingSessions.delete(key));
    tilingSessions.set(key, s);
  }
  return s;
}

async function runGraph(m: GraphRequest): Promise<void> {
  const s = m.graph === 'plain' ? sessions.get(m.direction) : await tilingSession(m.direction, m.graph);
  if (!s) throw new Error(`no session for direction ${m.direction}`);
  const feeds: Record<string, OrtTensor> = {};
  for (const [k, v] of Object.entries(m.feeds))
    feeds[k] = v.type === 'int64' ? int64Tensor(v.data, v.dims) : float32Tensor(v.data, v.dims);
  // The plain graph's own names; the tiling graphs use the exporter's fixed ones.
  if (m.graph === 'plain' && inputName !== 'input' && feeds.input) {
    feeds[inputName] = feeds.input;
    delete feeds.input;
  }
  const fetch = m.graph === 'plain' ? m.fetch.map((f) => (f === 'output' ? outputName : f)) : m.fetch;
  const t0 = performance.now();
  const out = await s.run(feeds, fetch);
  const ms = performance.now() - t0;
  const outputs: Record<string, { data: Float32Array; dims: number[] }> = {};
  const transfer: ArrayBuffer[] = [];
  m.fetch.forEach((name, i) => {
    const data = new Float32Array(out[fetch[i]].data as Float32Array);
    outputs[name] = { data, dims: [...out[fetch[i]].dims] };
    transfer.push(data.buffer as ArrayBuffer);
  });
  post({ type: 'graph-result', id: m.id, outputs, ms }, transfer);
  // A tiled image's tiles leave their tensors behind; collect once a large image's worth piled up.
  graphBytes += transfer.reduce((a, b) => a + b.byteLength, 0);
  if (graphBytes > LARGE_IMAGE_BYTES) {
    graphBytes = 0;
    collectSoon(1000);
  }
}

/**
 * Runs still executing: closing waits for them, since releasing a session under a running
 * onnxruntime call aborts the process (a tiled request whose client left, a replaced model).
 */
const running = new Set<Promise<void>>();
function track(p: Promise<void>): void {
  running.add(p);
  void p.finally(() => running.delete(p));
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'load':
      load(msg).catch((e) => post({ type: 'load-failed', error: firstLine(e) }));
      break;
    case 'run':
      track(
        run(msg.id, msg.direction, msg.data, msg.dims).catch((e) =>
          post({ type: 'run-failed', id: msg.id, error: firstLine(e) }),
        ),
      );
      break;
    case 'graph':
      track(runGraph(msg).catch((e) => post({ type: 'run-failed', id: msg.id, error: firstLine(e) })));
      break;
    case 'close':
      // InferenceThread sends nothing after 'close', so these are all the runs there will be.
      void Promise.allSettled([...running])
        .then(() =>
          Promise.all(
            [...sessions.values(), ...leanSessions.values(), ...tilingSessions.values()].map(async (s) =>
              (await s).release(),
            ),
          ),
        )
        .finally(() => {
          post({ type: 'closed' });
          port.close();
        });
      break;
  }
});
