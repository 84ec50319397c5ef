/**
 * What the page needs to translate in the browser (issue #27), mounted by app.ts before request
 * validation like the page itself:
 * - /browser/pipeline.js: the browser pipeline (web/), bundled once on first request;
 *   /browser/resample.wasm: core/image's resampler kernel.
 * - /ort/<file>: onnxruntime-web's runtime from node_modules (no CDN).
 * - /model-files/index.json: each loaded model's files with size and sha256 (web/modelListing.ts);
 *   /model-files/<name>/<file>: model.json, the ONNX graphs and the card files of its folder. A graph
 *   asked for with `?v=` equal to its hash prefix is immutable; everything else revalidates by ETag.
 * - /examples/index.json and /examples/<folder>/<image>: the repository's examples/ images.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import express, { type Request, type Response } from 'express';
import type { Config } from '../config';
import type { ModelRepository } from '../modelRepository';
import { bundleBrowserPipeline, ORT_DIST_DIR, ORT_FILES, RESAMPLE_WASM_FILE } from '../../web/bundle';
import { listExamples, EXAMPLES_DIR } from '../../web/examples';
import { describeModelFolder, servableFiles, type BrowserModelIndex } from '../../web/modelListing';
import { embedExternalWeights } from '../../core/onnx/externalWeights';

const IMMUTABLE = 'public, max-age=31536000, immutable';

function sendWithEtag(req: Request, res: Response, body: Buffer | string, type: string, etag: string): void {
  res.setHeader('ETag', `"${etag}"`);
  if (!res.getHeader('Cache-Control')) res.setHeader('Cache-Control', 'no-cache');
  if (req.headers['if-none-match'] === `"${etag}"`) {
    res.status(304).end();
    return;
  }
  res.type(type).send(body);
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export function browserRoutes(config: Config, repo: ModelRepository): express.Router {
  const router = express.Router();
  let bundle: Promise<string> | null = null;

  router.get('/browser/pipeline.js', (req, res, next) => {
    bundle ??= bundleBrowserPipeline();
    bundle.then((js) => sendWithEtag(req, res, js, 'text/javascript', sha(js).slice(0, 32))).catch(next);
  });
  router.get('/browser/resample.wasm', (_req, res) => {
    res.sendFile(RESAMPLE_WASM_FILE, { maxAge: '1h', headers: { 'Content-Type': 'application/wasm' } });
  });

  const ortFiles = new Set(ORT_FILES);
  router.get('/ort/:file', (req, res, next) => {
    if (!ortFiles.has(req.params.file)) return next();
    // onnxruntime-web's version is pinned in package.json, so a day's caching is safe across restarts.
    res.sendFile(path.join(ORT_DIST_DIR, req.params.file), { maxAge: '1d' });
  });

  router.get('/model-files/index.json', (_req, res, next) => {
    (async () => {
      const index: BrowserModelIndex = {
        defaultModel: repo.defaultModel()?.name ?? null,
        tilePixels: config.TILE_PIXELS,
        models: await Promise.all(
          [...repo.models.values()].map((m) =>
            describeModelFolder(path.join(path.resolve(config.MODELS_DIR), m.folder), m.manifest, m.directions),
          ),
        ),
      };
      res.setHeader('Cache-Control', 'no-cache');
      res.json(index);
    })().catch(next);
  });

  router.get('/model-files/:name/:file', (req, res, next) => {
    const m = repo.get(req.params.name);
    const files = m ? servableFiles(m.manifest) : null;
    if (!m || !files?.has(req.params.file)) return next();
    const file = path.join(path.resolve(config.MODELS_DIR), m.folder, req.params.file);
    (async () => {
      const graph = path.extname(file) === '.onnx';
      // The page opens graphs from bytes: shared external weights (<direction>.weights) go inside.
      const bytes = graph ? embedExternalWeights(path.dirname(file), req.params.file) : fs.readFile(file);
      const body = await bytes.then((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)).catch(() => null);
      if (!body) return next();
      // A graph's ETag is its sha256 (the manifest's, which the server checked when loading it; of the
      // body where weights were embedded).
      const etag = files.get(req.params.file) ?? sha(body);
      if (graph && req.query.v === etag.slice(0, 16)) res.setHeader('Cache-Control', IMMUTABLE);
      const type = { '.json': 'application/json', '.md': 'text/markdown; charset=utf-8' }[path.extname(file)];
      sendWithEtag(req, res, body, type ?? 'application/octet-stream', etag);
    })().catch(next);
  });

  router.get('/examples/index.json', (_req, res, next) => {
    listExamples()
      .then((list) => {
        res.setHeader('Cache-Control', 'no-cache');
        res.json(list);
      })
      .catch(next);
  });
  router.use('/examples', express.static(EXAMPLES_DIR, { maxAge: '1h', index: false }));
  return router;
}
