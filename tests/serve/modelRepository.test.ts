/**
 * Models loaded live (serve/modelRepository.ts on inference/liveModels.ts and modelsDirWatcher.ts):
 * folders added to, replaced in and removed from MODELS_DIR while the server runs, half-written
 * folders, broken folders, and X-Model-Version. Real onnxruntime sessions on tiny models.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { writeFolderAtomically } from '../../export/atomicFolder';
import { folderVersion } from '../../inference/modelFolderStage';
import type { RunBatch } from '../../inference/batcher';
import { createApp } from '../../serve/app';
import { loadConfig, type Config } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { createTinyModelRepo, noiseImage, writeTinyModel, type TinyRepo } from '../helpers/tinyModel';

const SETTLE_MS = 150;

interface Running {
  repo: ModelRepository;
  server: Server;
}

let models: TinyRepo;
let s: Running;
let photo: Buffer;

async function start(dir: string, overrides: Partial<Config> = {}): Promise<Running> {
  const config = loadConfig(
    {},
    {
      MODELS_DIR: dir,
      EXECUTION_PROVIDERS: ['cpu'],
      LOG_LEVEL: 'silent',
      MODELS_POLL_MS: 100,
      MODELS_SETTLE_MS: SETTLE_MS,
      DEFAULT_MODEL: 'base',
      ...overrides,
    },
  );
  const repo = new ModelRepository(config, pino({ level: 'silent' }));
  await repo.load();
  repo.watch();
  const server = createApp(config, repo, { logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { repo, server };
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface FolderStatus {
  folder: string;
  name?: string;
  state: string;
  version?: string;
  reason?: string;
}

async function listing(): Promise<{ models: { name: string; version: string }[]; repository: FolderStatus[] }> {
  const r = await request(s.server).get('/v1/models');
  expect(r.status).toBe(200);
  return r.body;
}

const folderState = async (folder: string) => (await listing()).repository.find((f) => f.folder === folder);

function translate(model: string) {
  return request(s.server).post(`/translate?model=${model}`).attach('image', photo, 'p.png');
}

/** Writes a tiny model into a scratch folder next to MODELS_DIR's models and returns its files. */
async function tinyFiles(opts: Parameters<typeof writeTinyModel>[1]): Promise<Map<string, Buffer>> {
  const scratch = await fs.mkdtemp(path.join(models.dir, '.scratch-'));
  await writeTinyModel(scratch, opts);
  const dir = path.join(scratch, opts!.name!);
  const files = new Map<string, Buffer>();
  for (const f of await fs.readdir(dir)) files.set(f, await fs.readFile(path.join(dir, f)));
  await fs.rm(scratch, { recursive: true, force: true });
  return files;
}

/** As `npm run export` writes a folder: everything in a hidden temp folder, then renamed into place. */
async function exportFolder(folder: string, files: Map<string, Buffer>): Promise<void> {
  await writeFolderAtomically(path.join(models.dir, folder), async (tmp) => {
    for (const [f, b] of files) await fs.writeFile(path.join(tmp, f), b);
  });
}

beforeAll(async () => {
  models = await createTinyModelRepo([{ name: 'base', seed: 1 }]);
  photo = await noiseImage(40, 30, 'png', 3);
  s = await start(models.dir);
});

afterAll(async () => {
  s.server.closeAllConnections();
  await new Promise((r) => s.server.close(r));
  await s.repo.close();
  await models.cleanup();
});

describe('models loaded live from MODELS_DIR', () => {
  it('a folder added while serving appears in /v1/models without a restart and answers with its version', async () => {
    expect((await translate('added')).status).toBe(404);
    await exportFolder('added', await tinyFiles({ name: 'added', seed: 11 }));
    const st = await until('added to be ready', async () => (await folderState('added'))?.state === 'ready');
    expect(st).toBe(true);
    const version = await folderVersion(path.join(models.dir, 'added'));
    expect((await listing()).models.find((m) => m.name === 'added')?.version).toBe(version);
    const r = await translate('added');
    expect(r.status).toBe(200);
    expect(r.headers['x-model']).toBe('added');
    expect(r.headers['x-model-version']).toBe(version);
  });

  it('a folder replaced by rename switches to the new version; requests in flight finish on the old one', async () => {
    await exportFolder('swap', await tinyFiles({ name: 'swap', seed: 21 }));
    await until('swap v1', async () => (await folderState('swap'))?.state === 'ready');
    const v1 = await folderVersion(path.join(models.dir, 'swap'));
    const before = await translate('swap');
    expect(before.headers['x-model-version']).toBe(v1);

    // Hold v1's batches until the switch has happened.
    const old = s.repo.models.get('swap')!;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const infer: RunBatch = old.infer;
    old.infer = async (direction, data, dims) => {
      await gate;
      return infer(direction, data, dims);
    };
    const inFlight = [0, 1, 2].map(() => translate('swap').then((r) => r));
    await until('requests queued on v1', async () => old.batcher.depth + old.batcher.inFlight > 0);

    await exportFolder('swap', await tinyFiles({ name: 'swap', seed: 22 }));
    const v2 = await folderVersion(path.join(models.dir, 'swap'));
    expect(v2).not.toBe(v1);
    await until('swap v2', async () => (await folderState('swap'))?.version === v2);
    expect(s.repo.models.get('swap')).not.toBe(old);
    // Drained, not closed: v1's sessions stay open for the requests it holds.
    expect(old.thread.alive).toBe(true);
    const fresh = await translate('swap');
    expect(fresh.status).toBe(200);
    expect(fresh.headers['x-model-version']).toBe(v2);
    expect(Buffer.compare(fresh.body, before.body)).not.toBe(0);

    open();
    for (const r of await Promise.all(inFlight)) {
      expect(r.status).toBe(200);
      expect(r.headers['x-model-version']).toBe(v1);
      expect(Buffer.compare(r.body, before.body)).toBe(0);
    }
    await until('v1 closed once drained', async () => !old.thread.alive);
  });

  it('a removed folder disappears (404), the others keep serving', async () => {
    await exportFolder('gone', await tinyFiles({ name: 'gone', seed: 31 }));
    await until('gone loaded', async () => (await folderState('gone'))?.state === 'ready');
    await fs.rm(path.join(models.dir, 'gone'), { recursive: true });
    await until('gone removed', async () => (await folderState('gone')) === undefined);
    expect((await listing()).models.map((m) => m.name)).not.toContain('gone');
    expect((await translate('gone')).status).toBe(404);
    expect((await translate('base')).status).toBe(200);
  });

  it('a broken folder is reported per model (state, reason, metrics) while the others serve and /readyz stays 200', async () => {
    const files = await tinyFiles({ name: 'broken', seed: 41 });
    const manifest = JSON.parse(files.get('model.json')!.toString());
    manifest.directions.AtoB.sha256 = 'f'.repeat(64);
    files.set('model.json', Buffer.from(JSON.stringify(manifest)));
    await exportFolder('broken', files);
    const st = await until('broken reported', async () => {
      const f = await folderState('broken');
      return f?.state === 'failed' ? f : undefined;
    });
    expect(st.reason).toMatch(/^broken\/model\.json: AtoB file AtoB\.onnx does not match its sha256/);
    expect(st.reason).not.toMatch(/\/(tmp|work)\//);
    const metrics = (await request(s.server).get('/metrics')).text;
    expect(metrics).toMatch(/model_folder_state\{folder="broken",state="failed"\} 1/);
    expect(metrics).toMatch(/model_folder_state\{folder="base",state="ready"\} 1/);
    expect((await request(s.server).get('/readyz')).status).toBe(200);
    expect((await translate('broken')).status).toBe(404);
    expect((await translate('base')).status).toBe(200);
    await fs.rm(path.join(models.dir, 'broken'), { recursive: true });
    await until('broken dropped', async () => (await folderState('broken')) === undefined);
  });

  it('a replacement that fails leaves the old version serving, with the reason', async () => {
    await exportFolder('keep', await tinyFiles({ name: 'keep', seed: 51 }));
    await until('keep v1', async () => (await folderState('keep'))?.state === 'ready');
    const v1 = await folderVersion(path.join(models.dir, 'keep'));
    const files = await tinyFiles({ name: 'keep', seed: 52 });
    files.set('AtoB.onnx', Buffer.from('not an onnx graph'));
    await exportFolder('keep', files);
    const st = await until('keep failure reported', async () => {
      const f = await folderState('keep');
      return f?.reason ? f : undefined;
    });
    expect(st).toMatchObject({ state: 'ready', version: v1 });
    expect(st.reason).toMatch(new RegExp(`version ${v1} keeps serving`));
    const r = await translate('keep');
    expect(r.status).toBe(200);
    expect(r.headers['x-model-version']).toBe(v1);
  });

  it('a folder written slowly, file by file, is never served half-written', async () => {
    const files = await tinyFiles({ name: 'slow', seed: 61 });
    const graph = files.get('AtoB.onnx')!;
    // The manifest first, naming each graph's sha256 as the exporter does; then the graphs in pieces,
    // each pause longer than the settle time, so the server reads the folder between pieces.
    const manifest = JSON.parse(files.get('model.json')!.toString());
    for (const d of ['AtoB', 'BtoA'])
      manifest.directions[d].sha256 = createHash('sha256')
        .update(files.get(`${d}.onnx`)!)
        .digest('hex');
    const dir = path.join(models.dir, 'slow');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(manifest));
    await fs.writeFile(path.join(dir, 'BtoA.onnx'), files.get('BtoA.onnx')!);
    const answers: number[] = [];
    const states = new Set<string>();
    let writing = true;
    const probe = (async () => {
      while (writing) {
        answers.push((await translate('slow')).status);
        states.add((await folderState('slow'))?.state ?? 'absent');
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const pieces = 4;
    const handle = await fs.open(path.join(dir, 'AtoB.onnx'), 'w');
    for (let i = 0; i < pieces; i++) {
      await handle.write(
        graph.subarray(Math.floor((i * graph.length) / pieces), Math.floor(((i + 1) * graph.length) / pieces)),
      );
      await handle.sync();
      if (i < pieces - 1) await new Promise((r) => setTimeout(r, SETTLE_MS * 3));
    }
    await handle.close();
    writing = false;
    await probe;
    // While it was incomplete the server read it (and said why it failed), but never served it.
    expect(states.has('failed')).toBe(true);
    expect(answers.filter((st) => st === 200)).toEqual([]);
    const version = await folderVersion(dir);
    await until('slow ready once complete', async () => (await folderState('slow'))?.version === version);
    const r = await translate('slow');
    expect(r.status).toBe(200);
    expect(r.headers['x-model-version']).toBe(version);
  });

  it('X-Model-Version is the folder content hash on /translate and on OIP infer, and stays with the bytes', async () => {
    const version = await folderVersion(path.join(models.dir, 'base'));
    expect(version).toMatch(/^[0-9a-f]{16}$/);
    expect((await translate('base')).headers['x-model-version']).toBe(version);
    const oip = await request(s.server)
      .post('/v2/models/base_AtoB/infer')
      .send({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [photo.toString('base64')] }] });
    expect(oip.status).toBe(200);
    expect(oip.headers['x-model-version']).toBe(version);
    // Touching the files without changing them keeps the version (it is their content).
    const now = new Date();
    await fs.utimes(path.join(models.dir, 'base', 'AtoB.onnx'), now, now);
    await new Promise((r) => setTimeout(r, SETTLE_MS * 4));
    await s.repo.scanNow();
    expect((await folderState('base'))?.version).toBe(version);
    expect((await translate('base')).headers['x-model-version']).toBe(version);
  });
});
