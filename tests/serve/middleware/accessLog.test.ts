/** serve/middleware/accessLog.ts: one line per response, at a level that says whether something went wrong. */
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { createMetrics } from '../../../serve/metrics';
import { accessLog } from '../../../serve/middleware/accessLog';

function appLogging(lines: { level: number; msg: string; url: string; status: number }[]) {
  const log = pino({ level: 'trace' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const app = express();
  app.use(accessLog({ metrics: createMetrics(4), log }));
  for (const p of ['/readyz', '/v2/health/ready', '/translate']) app.all(p, (_req, res) => void res.sendStatus(503));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/v1/models', (_req, res) => void res.json([]));
  return app;
}

test('readiness polls answered 503 while loading are debug lines, not warnings that a request failed', async () => {
  const lines: { level: number; msg: string; url: string; status: number }[] = [];
  const app = appLogging(lines);
  for (const url of ['/readyz', '/v2/health/ready', '/healthz']) await request(app).get(url);
  expect(lines.map((l) => [l.url, l.status, l.level, l.msg])).toEqual([
    ['/readyz', 503, 20, 'probe'],
    ['/v2/health/ready', 503, 20, 'probe'],
    ['/healthz', 200, 20, 'probe'],
  ]);
});

test('other requests: info, and a 5xx a warning that the request failed', async () => {
  const lines: { level: number; msg: string; url: string; status: number }[] = [];
  const app = appLogging(lines);
  await request(app).get('/v1/models');
  await request(app).post('/translate?dir=AtoB');
  expect(lines.map((l) => [l.url, l.status, l.level, l.msg])).toEqual([
    ['/v1/models', 200, 30, 'request'],
    ['/translate?dir=AtoB', 503, 40, 'request failed'],
  ]);
});
