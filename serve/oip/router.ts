/**
 * The Open Inference Protocol (KServe v2) REST routes, on the same models, batchers, limits and
 * metrics as POST /translate. Each direction of each model folder is one OIP model named
 * `<folder>_<direction>`, with two ways in:
 *  - `input`, FP32 [N, C, H, W] exactly as the ONNX generator takes it, answered as FP32 `output`
 *    (each sample goes through the model's batcher, so it batches with /translate traffic);
 *  - `image`, BYTES [N] of encoded images, answered as BYTES `image` by Model.translate, the code
 *    path of /translate (so the bytes are the same for the same size/format/fit/tile parameters).
 * Errors are `{"error": "..."}` with the status /translate would give (createApp's error handler
 * calls sendOipError for /v2 paths).
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { Direction } from '../../core/modelManifest';
import { firstLine } from '../../core/errorText';
import { BatchTimeoutError, CancelledError, QueueFullError } from '../../inference/batcher';
import { FITS, type Fit } from '../../inference/model';
import { directionChannels } from '../../inference/modelFiles';
import { OUTPUT_FORMATS, type OutputFormat } from '../../core/image/formats';
import { parseSizeMode, SIZE_PATTERN, SIZE_WORDS } from '../../inference/preprocess';
import { parseTileChoice } from '../../inference/tiling/tiledTranslate';
import type { Lifecycle } from '../serveContext';
import type { Config } from '../config';
import type { Metrics, Stage } from '../metrics';
import type { LoadedModel, ModelRepository } from '../modelRepository';
import { HttpProblem, waitProblem } from '../problem';
import {
  decodeInputs,
  encodeResponse,
  HEADER_LENGTH,
  parseJson,
  splitBinaryBody,
  type InferRequestHeader,
  type Tensor,
} from './wire';

export interface OipDeps {
  config: Config;
  repo: ModelRepository;
  metrics: Metrics;
  lifecycle: Lifecycle;
  log: Logger;
}

const SERVER_NAME = 'cyclegan-ts';
const SERVER_VERSION = '0.1.0';
/** Model folders have no versions: each OIP model has the one version `1`. */
const VERSION = '1';
const RETRY_S = '5';

export const OIP_INFER_PATHS = ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer'];

export function isOipPath(p: string): boolean {
  return p === '/v2' || p.startsWith('/v2/');
}

/** Bounded route labels for metrics. */
export function oipRouteLabel(p: string): string {
  if (p === '/v2' || p === '/v2/health/live' || p === '/v2/health/ready') return p;
  const m = /^\/v2\/models\/[^/]+(?:\/versions\/[^/]+)?(\/infer|\/ready)?$/.exec(p);
  if (m) return `/v2/models/{model}${m[1] ?? ''}`;
  return '/v2 (other)';
}

/** A /v2 error as the protocol words it. */
export function sendOipError(res: Response, problem: HttpProblem): void {
  res.status(problem.status).json({ error: problem.detail });
}

const bad = (detail: string) => new HttpProblem('invalid-request', detail);

/**
 * Reads an infer request body whatever its Content-Type (tritonclient sends none), up to
 * MAX_UPLOAD_BYTES. With `Inference-Header-Content-Length` the body is the binary extension: the
 * JSON header becomes req.body and the tensor bytes res.locals.oipBinary; else the body is JSON.
 * Either way the request is then marked application/json, so openapi.yaml's InferenceRequest
 * schema validates the header of both forms. Other media types are refused (415).
 */
export function readOipBody(config: Config): RequestHandler[] {
  const raw = express.raw({ type: () => true, limit: config.MAX_UPLOAD_BYTES });
  return [
    raw,
    (req, res, next) => {
      const mediaType = req.headers['content-type']?.split(';')[0].trim().toLowerCase();
      if (mediaType && mediaType !== 'application/json' && mediaType !== 'application/octet-stream')
        return next(
          new HttpProblem(
            'unsupported-image',
            `Content-Type ${mediaType}: send the request as application/json, or with Inference-Header-Content-Length as application/octet-stream (or no Content-Type)`,
          ),
        );
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (body.length === 0)
        return next(bad('empty body: send an inference request (JSON, or JSON + binary tensor data)'));
      const headerLength = req.headers[HEADER_LENGTH];
      try {
        if (typeof headerLength === 'string') {
          const { header, binary } = splitBinaryBody(body, headerLength);
          req.body = header;
          res.locals.oipBinary = binary;
        } else req.body = parseJson(body);
      } catch (e) {
        return next(e);
      }
      req.headers['content-type'] = 'application/json';
      next();
    },
  ];
}

interface OipModel {
  name: string;
  model: LoadedModel;
  direction: Direction;
}

function oipModels(repo: ModelRepository): OipModel[] {
  return [...repo.models.values()].flatMap((model) =>
    model.directions.map((direction) => ({ name: `${model.folder}_${direction}`, model, direction })),
  );
}

function findModel(repo: ModelRepository, name: string, version: string | undefined): OipModel {
  const all = oipModels(repo);
  const found = all.find((m) => m.name === name);
  if (!found) {
    if (repo.state === 'loading')
      throw new HttpProblem('not-ready', 'models are still loading', { 'Retry-After': RETRY_S });
    throw new HttpProblem(
      'unknown-model',
      `no model named '${name}' (models: ${all.map((m) => m.name).join(', ') || 'none'})`,
    );
  }
  if (version !== undefined && version !== VERSION)
    throw new HttpProblem('unknown-model', `model '${name}' has no version '${version}' (versions: ${VERSION})`);
  return found;
}

function metadata(m: OipModel) {
  const c = directionChannels(m.model.manifest, m.direction);
  return {
    name: m.name,
    versions: [VERSION],
    platform: 'onnxruntime_onnx',
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [-1, c.in, -1, -1] },
      { name: 'image', datatype: 'BYTES', shape: [-1] },
    ],
    outputs: [
      { name: 'output', datatype: 'FP32', shape: [-1, c.out, -1, -1] },
      { name: 'image', datatype: 'BYTES', shape: [-1] },
    ],
  };
}

/** The /translate options an image request's `parameters` ask for. */
function imageOptions(p: Record<string, unknown>) {
  const text = (key: string, fallback: string): string => {
    const v = p[key] ?? fallback;
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v)))
      throw bad(`parameters.${key} must be a string`);
    return String(v);
  };
  const size = text('size', 'native');
  if (!SIZE_PATTERN.test(size)) throw bad(`parameters.size must be ${SIZE_WORDS}, got '${size}'`);
  const format = text('format', 'png');
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format))
    throw bad(`parameters.format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${format}'`);
  const fit = text('fit', 'original');
  if (!(FITS as readonly string[]).includes(fit))
    throw bad(`parameters.fit must be one of ${FITS.join(', ')}, got '${fit}'`);
  return {
    size: parseSizeMode(size),
    format: format as OutputFormat,
    fit: fit as Fit,
    tile: parseTileChoice(text('tile', 'auto')),
  };
}

async function runImages(
  m: OipModel,
  input: Extract<Tensor, { datatype: 'BYTES' }>,
  header: InferRequestHeader,
  deps: OipDeps,
  run: { deadline: number; signal: AbortSignal; onStage: (s: Stage, ms: number) => void },
): Promise<Tensor> {
  if (input.shape.length !== 1 || input.data.length === 0)
    throw bad(`input 'image' must have shape [N] with N >= 1 encoded images, got [${input.shape}]`);
  const o = imageOptions(header.parameters ?? {});
  const out = await Promise.all(
    input.data.map(async (bytes, i) => {
      if (bytes.length === 0) throw bad(`input 'image' element ${i} is empty`);
      const r = await m.model.translate(bytes, {
        direction: m.direction,
        ...o,
        png: deps.config.PNG_COMPRESSION,
        ...run,
      });
      return r.bytes;
    }),
  );
  return { name: 'image', datatype: 'BYTES', shape: [out.length], data: out };
}

async function runTensor(
  m: OipModel,
  input: Extract<Tensor, { datatype: 'FP32' }>,
  deps: OipDeps,
  run: { deadline: number; signal: AbortSignal; onStage: (s: Stage, ms: number) => void },
): Promise<Tensor> {
  const man = m.model.manifest;
  const c = directionChannels(man, m.direction).in;
  const [n, ch, h, w] = input.shape;
  const multiple = man.sizeMultiple;
  if (input.shape.length !== 4 || n < 1 || ch !== c || h < 1 || w < 1)
    throw bad(`input 'input' must have shape [N, ${c}, H, W] with N, H, W >= 1, got [${input.shape}]`);
  if (h % multiple !== 0 || w % multiple !== 0)
    throw bad(`input 'input': H and W must be multiples of ${multiple} for model '${m.name}', got ${h}x${w}`);
  if (h * w > deps.config.MAX_PIXELS)
    throw new HttpProblem(
      'too-many-pixels',
      `input 'input' is ${w}x${h} = ${w * h} pixels, more than the limit of ${deps.config.MAX_PIXELS} (the server's MAX_PIXELS setting)`,
    );
  for (let i = 0; i < input.data.length; i++)
    if (!Number.isFinite(input.data[i])) throw bad(`input 'input' element ${i} is not a finite number`);
  m.model.admitTensors(m.direction, h, w, n, run.deadline);
  const per = ch * h * w;
  const results = await Promise.all(
    Array.from({ length: n }, (_, k) =>
      m.model.batcher.submit(m.direction, input.data.subarray(k * per, (k + 1) * per), [1, ch, h, w], run),
    ),
  ).catch((e: unknown) => {
    if (e instanceof QueueFullError || e instanceof BatchTimeoutError || e instanceof CancelledError) throw e;
    // Shapes were checked above, so a run failure is a geometry the network cannot take (e.g. too small).
    if (m.model.thread.alive)
      throw bad(`the generator cannot run on [1,${ch},${h},${w}]: ${firstLine(e).slice(0, 300)}`);
    throw e;
  });
  run.onStage('queue', results[0].queueMs);
  run.onStage('inference', results[0].inferenceMs);
  const outPer = results[0].data.length;
  const data = new Float32Array(outPer * n);
  results.forEach((r, k) => data.set(r.data, k * outPer));
  return { name: 'output', datatype: 'FP32', shape: [n, ...results[0].dims.slice(1)], data };
}

async function infer(req: Request, res: Response, deps: OipDeps): Promise<void> {
  const { config, repo, metrics, log } = deps;
  const deadline = Date.now() + config.REQUEST_TIMEOUT_MS;
  const found = findModel(repo, req.params.model, req.params.version);
  // The lease keeps this version's sessions open until the answer is sent, even if it is replaced.
  const lease = repo.acquire(found.model.name, res);
  if (!lease) throw new HttpProblem('not-ready', `model '${found.name}' was just unloaded`, { 'Retry-After': RETRY_S });
  const m = { ...found, model: lease.model };
  res.set('X-Model-Version', lease.version);
  if (!m.model.thread.alive)
    throw new HttpProblem('not-ready', `the inference worker of model '${m.model.name}' has stopped`, {
      'Retry-After': RETRY_S,
    });
  const header = req.body as InferRequestHeader;
  if (header.inputs.length !== 1)
    throw bad(`send exactly one input: 'input' (FP32 [N,C,H,W]) or 'image' (BYTES [N]), got ${header.inputs.length}`);
  const binary = (res.locals.oipBinary as Buffer | undefined) ?? null;
  const [input] = decodeInputs(header, binary, { input: 'FP32', image: 'BYTES' });
  const outputName = input.name === 'image' ? 'image' : 'output';
  const requested = header.outputs ?? [];
  for (const o of requested)
    if (o.name !== outputName)
      throw bad(
        o.name === 'image' || o.name === 'output'
          ? `output '${o.name}' comes from input '${o.name === 'image' ? 'image' : 'input'}', the request sent '${input.name}'`
          : `unknown output '${o.name}' (outputs: output, image)`,
      );
  const binaryDefault = header.parameters?.binary_data_output === true;
  const wantsBinary = (name: string) => {
    const own = requested.find((o) => o.name === name)?.parameters?.binary_data;
    return typeof own === 'boolean' ? own : binaryDefault;
  };

  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const run = {
    deadline,
    signal: abort.signal,
    onStage: (stage: Stage, ms: number) => metrics.stageDuration.observe({ stage, model: m.model.name }, ms / 1000),
  };
  let output: Tensor;
  try {
    output =
      input.datatype === 'BYTES' ? await runImages(m, input, header, deps, run) : await runTensor(m, input, deps, run);
  } catch (e) {
    abort.abort(); // the other images/samples of this request give up their places too
    const problem = waitProblem(e, m.model, config.REQUEST_TIMEOUT_MS);
    if (problem) throw problem;
    log.debug({ url: req.originalUrl }, 'client went away while queued');
    return;
  }
  const { body, headerLength } = encodeResponse(
    {
      model_name: m.name,
      model_version: VERSION,
      ...(header.id !== undefined && { id: header.id }),
      outputs: [output],
    },
    wantsBinary,
  );
  res.set('Cache-Control', 'no-store');
  if (headerLength === null) res.type('application/json');
  else res.type('application/octet-stream').set('Inference-Header-Content-Length', String(headerLength));
  res.send(body);
}

/** GET routes and the infer handler (its body is read by readOipBody before request validation). */
export function createOipRouter(deps: OipDeps): express.Router {
  const { repo, lifecycle } = deps;
  const router = express.Router();
  router.get('/v2', (_req, res) => {
    res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] });
  });
  router.get('/v2/health/live', (_req, res) => {
    res.json({ live: true });
  });
  router.get('/v2/health/ready', (_req, res) => {
    const r = lifecycle.draining ? { ready: false as const, reason: 'the server is shutting down' } : repo.readiness();
    if (r.ready) res.json({ ready: true });
    else res.status(503).set('Retry-After', RETRY_S).json({ ready: false, error: r.reason });
  });
  const meta = (req: Request, res: Response) => {
    res.json(metadata(findModel(repo, req.params.model, req.params.version)));
  };
  router.get('/v2/models/:model', meta);
  router.get('/v2/models/:model/versions/:version', meta);
  const ready = (req: Request, res: Response) => {
    const m = findModel(repo, req.params.model, req.params.version);
    if (m.model.thread.alive && !lifecycle.draining) res.json({ name: m.name, ready: true });
    else res.status(503).set('Retry-After', RETRY_S).json({ name: m.name, ready: false });
  };
  router.get('/v2/models/:model/ready', ready);
  router.get('/v2/models/:model/versions/:version/ready', ready);
  router.post(OIP_INFER_PATHS, (req: Request, res: Response, next: NextFunction) => {
    infer(req, res, deps).catch(next);
  });
  return router;
}
