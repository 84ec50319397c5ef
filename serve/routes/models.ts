/**
 * GET /v1/models and /v1/models/{name}: what each loaded model is, which version serves, and how
 * it may be called; the list also reports every model folder's state (failed ones with the reason).
 */
import express from 'express';
import type { LoadedModel, ModelRepository } from '../modelRepository';
import { HttpProblem } from '../problem';
import type { ServeContext } from '../serveContext';

export function modelInfo(m: LoadedModel, { config, repo }: Pick<ServeContext, 'config' | 'repo'>) {
  const man = m.manifest;
  return {
    name: m.name,
    version: repo.versionOf(m),
    ...(man.description !== undefined && { description: man.description }),
    ...(man.domains !== undefined && { domains: man.domains }),
    directions: m.directions,
    channels: { A: man.inputNc, B: man.outputNc },
    sizes: {
      preferred: man.preferredSize,
      multiple: man.sizeMultiple,
      maxPixels: config.MAX_PIXELS,
      maxInputPixels: config.MAX_INPUT_PIXELS,
    },
    tiling: Object.fromEntries(
      m.directions.map((d) => {
        const t = m.tiling(d);
        return [
          d,
          t
            ? { available: true, halo: t.halo, norm: t.norm, tilePixels: config.TILE_PIXELS, stats: config.TILE_STATS }
            : {
                available: false,
                reason: 'model folder exported before tiled execution (no tiling entry in model.json)',
              },
        ];
      }),
    ),
    executionProvider: m.executionProvider,
    maxBatch: m.maxBatch,
    ...(man.epoch !== undefined && { epoch: man.epoch }),
    ...(man.metrics !== undefined && { metrics: man.metrics }),
  };
}

export function unknownModel(name: string, repo: ModelRepository): HttpProblem {
  const loaded = [...repo.models.keys()];
  return new HttpProblem(
    'unknown-model',
    `no model named '${name}' (loaded: ${loaded.length ? loaded.join(', ') : 'none'})`,
  );
}

export function modelsRouter(ctx: ServeContext): express.Router {
  const { repo } = ctx;
  const router = express.Router();
  router.get('/v1/models', (_req, res) => {
    res.json({
      defaultModel: repo.defaultModel()?.name ?? null,
      models: [...repo.models.values()].map((m) => modelInfo(m, ctx)),
      repository: repo.statuses(),
    });
  });
  router.get('/v1/models/:name', (req, res, next) => {
    const m = repo.get(req.params.name);
    if (!m) return next(unknownModel(req.params.name, repo));
    res.json(modelInfo(m, ctx));
  });
  return router;
}
