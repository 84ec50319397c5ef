/**
 * POST /v1/models/{name}/load and /unload (serve/routes/modelControl.ts) with MODEL_CONTROL=explicit:
 * nothing changes until asked. Also checks openapi.yaml for these two paths: every documented status
 * is produced here, and the 422 example is a body the server really answers.
 */
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import YAML from 'yaml';
import { folderVersion } from '../../../inference/modelFolderStage';
import { createApp, OPENAPI_FILE } from '../../../serve/app';
import { loadConfig, type Config } from '../../../serve/config';
import { ModelRepository } from '../../../serve/modelRepository';
import type { Lifecycle } from '../../../serve/serveContext';
import { createTinyModelRepo, noiseImage, writeTinyModel, type TinyRepo } from '../../helpers/tinyModel';

const KEY = 'control-key-123';
const seen = new Set<string>();
const problems: unknown[] = [];

interface Running {
  repo: ModelRepository;
  server: Server;
  lifecycle: Lifecycle;
}
const running: Running[] = [];
let models: TinyRepo;
let photo: Buffer;

async function start(overrides: Partial<Config> = {}): Promise<Running> {
  const config = loadConfig(
    {},
    {
      MODELS_DIR: models.dir,
      EXECUTION_PROVIDERS: ['cpu'],
      LOG_LEVEL: 'silent',
      MODEL_CONTROL: 'explicit',
      ...overrides,
    },
  );
  const repo = new ModelRepository(config, pino({ level: 'silent' }));
  await repo.load();
  const lifecycle = { draining: false };
  const server = createApp(config, repo, { logger: pino({ level: 'silent' }), lifecycle }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const r = { repo, server, lifecycle };
  running.push(r);
  return r;
}

async function control(
  s: Running,
  action: 'load' | 'unload',
  name: string,
  key: string | null = KEY,
): Promise<request.Response> {
  let req = request(s.server).post(`/v1/models/${name}/${action}`);
  if (key) req = req.set('Authorization', `Bearer ${key}`);
  const res = await req;
  seen.add(`post /v1/models/{name}/${action} ${res.status}`);
  if (/problem\+json/.test(String(res.headers['content-type']))) problems.push(JSON.parse(res.text));
  return res;
}

const translate = (s: Running, model: string) =>
  request(s.server)
    .post(`/translate?model=${model}`)
    .set('Authorization', `Bearer ${KEY}`)
    .attach('image', photo, 'p.png');

let s: Running;

beforeAll(async () => {
  models = await createTinyModelRepo([{ name: 'one', seed: 1 }]);
  photo = await noiseImage(40, 30, 'png', 5);
  s = await start({ API_KEY: KEY });
});

afterAll(async () => {
  for (const r of running) {
    r.server.closeAllConnections();
    await new Promise((res) => r.server.close(res));
    await r.repo.close();
  }
  await models.cleanup();
});

describe('model control', () => {
  it('load: a folder added in explicit mode is served only once loaded on request', async () => {
    await writeTinyModel(models.dir, { name: 'two', seed: 2 });
    // Explicit mode: no watcher, so the new folder is not served by itself.
    await new Promise((r) => setTimeout(r, 300));
    expect((await translate(s, 'two')).status).toBe(404);
    const res = await control(s, 'load', 'two');
    const version = await folderVersion(path.join(models.dir, 'two'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ folder: 'two', name: 'two', state: 'ready', version });
    const t = await translate(s, 'two');
    expect(t.status).toBe(200);
    expect(t.headers['x-model-version']).toBe(version);
  });

  it('load again after the files changed switches to their version', async () => {
    const before = await folderVersion(path.join(models.dir, 'two'));
    await fs.rm(path.join(models.dir, 'two'), { recursive: true });
    await writeTinyModel(models.dir, { name: 'two', seed: 3 });
    const after = await folderVersion(path.join(models.dir, 'two'));
    expect(after).not.toBe(before);
    expect((await translate(s, 'two')).headers['x-model-version']).toBe(before);
    expect((await control(s, 'load', 'two')).body.version).toBe(after);
    expect((await translate(s, 'two')).headers['x-model-version']).toBe(after);
  });

  it('unload: 404 for new requests, listed as unloaded with the reason, and load brings it back', async () => {
    const res = await control(s, 'unload', 'two');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ folder: 'two', state: 'unloaded' });
    expect(res.body.reason).toMatch(/unloaded on request/);
    expect((await translate(s, 'two')).status).toBe(404);
    const list = (await request(s.server).get('/v1/models')).body;
    expect(list.models.map((m: { name: string }) => m.name)).toEqual(['one']);
    expect(list.repository.find((f: { folder: string }) => f.folder === 'two').state).toBe('unloaded');
    expect((await translate(s, 'one')).status).toBe(200);
    expect((await control(s, 'load', 'two')).status).toBe(200);
    expect((await translate(s, 'two')).status).toBe(200);
  });

  it('a folder that fails to load: 422 with the reason in words, the other models keep serving', async () => {
    const m = await writeTinyModel(models.dir, { name: 'broken', seed: 4 });
    m.directions.AtoB!.sha256 = 'f'.repeat(64);
    await fs.writeFile(path.join(models.dir, 'broken', 'model.json'), JSON.stringify(m));
    const res = await control(s, 'load', 'broken');
    expect(res.status).toBe(422);
    expect(res.body.type).toBe('/problems/model-load-failed');
    expect(res.body.detail).toMatch(/^model folder broken\/ failed to load: .*does not match its sha256/);
    expect((await translate(s, 'one')).status).toBe(200);
    expect((await request(s.server).get('/readyz')).status).toBe(200);
  });

  it('unknown names (404), bad names (400), no key (401), shutting down (503)', async () => {
    const unknown = await control(s, 'load', 'nosuch');
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/no model or model folder named 'nosuch'.*folders: broken, one, two/);
    expect((await control(s, 'unload', 'nosuch')).status).toBe(404);
    for (const action of ['load', 'unload'] as const) {
      expect((await control(s, action, 'bad%20name')).status).toBe(400);
      expect((await control(s, action, 'one', null)).status).toBe(401);
    }
    s.lifecycle.draining = true;
    try {
      for (const action of ['load', 'unload'] as const) expect((await control(s, action, 'one')).status).toBe(503);
    } finally {
      s.lifecycle.draining = false;
    }
  });
});

describe('openapi.yaml and model control agree', () => {
  it('every status documented for load and unload was produced above, and the 422 example is real', async () => {
    const doc = YAML.parse(await fs.readFile(OPENAPI_FILE, 'utf8'));
    const missing: string[] = [];
    for (const action of ['load', 'unload']) {
      const route = `/v1/models/{name}/${action}`;
      for (const status of Object.keys(doc.paths[route].post.responses))
        if (!seen.has(`post ${route} ${status}`)) missing.push(`${route} ${status}`);
    }
    expect(missing).toEqual([]);
    const examples = doc.components.responses.ModelLoadFailed.content['application/problem+json'].examples;
    for (const { value } of Object.values<{ value: unknown }>(examples))
      expect(problems.some((p) => JSON.stringify(p) === JSON.stringify(value))).toBe(true);
  });
});
