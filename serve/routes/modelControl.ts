/**
 * POST /v1/models/{name}/load and /unload: explicit model control, as Triton's model control API
 * does it. `name` is a served model's name or a folder in MODELS_DIR. Load reads the folder now and
 * answers once the new version serves (or why it did not); unload stops the model taking requests,
 * waits for those it holds, and keeps it unloaded until it is loaded on request again.
 */
import express from 'express';
import { HttpProblem } from '../problem';
import type { ServeContext } from '../serveContext';
import { admitInference } from './translate';

export function modelControlRouter(ctx: ServeContext): express.Router {
  const { repo } = ctx;
  const router = express.Router();
  const noSuchFolder = (name: string) => {
    const known = repo.statuses().map((s) => s.folder);
    return new HttpProblem(
      'unknown-model',
      `no model or model folder named '${name}' in the model repository (folders: ${known.length ? known.join(', ') : 'none'})`,
    );
  };

  router.post('/v1/models/:name/load', ...admitInference(ctx), (req, res, next) => {
    (async () => {
      const status = await repo.loadNamed(req.params.name);
      if (!status) return next(noSuchFolder(req.params.name));
      if (status.state !== 'ready' || status.reason !== undefined)
        return next(
          new HttpProblem(
            'model-load-failed',
            `model folder ${status.folder}/ failed to load: ${status.reason ?? status.state}`,
            {},
            { model: status },
          ),
        );
      res.json(status);
    })().catch(next);
  });

  router.post('/v1/models/:name/unload', ...admitInference(ctx), (req, res, next) => {
    (async () => {
      const status = await repo.unloadNamed(req.params.name);
      if (!status) return next(noSuchFolder(req.params.name));
      res.json(status);
    })().catch(next);
  });
  return router;
}
