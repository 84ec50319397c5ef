/**
 * tools/oip_client.ts against the app: the image sent as JSON and as binary tensor data comes back
 * as the bytes /translate gives for the same options; a server error is one line and exit 1.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { createTinyModelRepo, noiseImage, type TinyRepo } from '../helpers/tinyModel';

const CLIENT = path.join(__dirname, '..', '..', 'tools', 'oip_client.ts');
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', CLIENT, ...args], { encoding: 'utf8', timeout: 60_000 });

let models: TinyRepo;
let repo: ModelRepository;
let server: Server;
let base: string;
let tmp: string;

beforeAll(async () => {
  models = await createTinyModelRepo([{ name: 'tiny' }]);
  const config = loadConfig({}, { MODELS_DIR: models.dir, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
  repo = new ModelRepository(config, pino({ level: 'silent' }));
  await repo.load();
  server = createApp(config, repo, { logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'oip-client-'));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await repo.close();
  await models.cleanup();
  await fs.rm(tmp, { recursive: true, force: true });
});

it('sends an image as JSON and as binary tensor data; both answer the /translate bytes', async () => {
  const input = path.join(tmp, 'in.png');
  await fs.writeFile(input, await noiseImage(70, 50, 'png', 3));
  const expected = (
    await request(server)
      .post('/translate?model=tiny&dir=BtoA&size=original&format=webp')
      .set('Content-Type', 'image/png')
      .send(await fs.readFile(input))
  ).body as Buffer;
  for (const form of ['json', 'binary']) {
    const output = path.join(tmp, `out-${form}.webp`);
    const r = await run(
      '--url',
      base,
      '--model',
      'tiny_BtoA',
      '--form',
      form,
      '--input',
      input,
      '--output',
      output,
      '--size',
      'original',
      '--format',
      'webp',
    );
    expect(r.stdout).toBe(`${output}: ${expected.length} bytes from tiny_BtoA (${form})\n`);
    expect((await fs.readFile(output)).equals(expected)).toBe(true);
  }
});

it('a server error is one line on stderr and exit 1', async () => {
  const input = path.join(tmp, 'in.png');
  await fs.writeFile(input, Buffer.from('not an image'));
  const r = await run(
    '--url',
    base,
    '--model',
    'tiny_AtoB',
    '--input',
    input,
    '--output',
    path.join(tmp, 'x.png'),
  ).catch((e: { code: number; stderr: string }) => e);
  expect((r as { code: number }).code).toBe(1);
  const lines = (r as { stderr: string }).stderr.trim().split('\n');
  expect(lines).toEqual([expect.stringMatching(/415 not a decodable image/)]);
});
