/** The API description (openapi.yaml, Swagger UI at /docs) and the demo page: static, outside request validation. */
import * as path from 'node:path';
import express from 'express';
import swaggerUi from 'swagger-ui-express';

const PUBLIC_DIR = path.join(__dirname, '..', 'public');

export function docsRouter(specText: string): express.Router {
  const router = express.Router();
  router.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(specText);
  });
  router.get('/docs', (req, res, next) => (req.originalUrl === '/docs' ? res.redirect(301, '/docs/') : next()));
  const docsOptions = { swaggerUrl: '/openapi.yaml', swaggerOptions: { validatorUrl: null } };
  router.use('/docs', swaggerUi.serveFiles(undefined, docsOptions), swaggerUi.setup(undefined, docsOptions));
  router.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: '1h' }));
  return router;
}
