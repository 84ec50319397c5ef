/**
 * The served and bulk outputs against the official test.py pipeline (tools/make_pipeline_fixtures.py:
 * PIL convert('RGB') → Resize((64, 64), BICUBIC) → ToTensor → Normalize(0.5, 0.5) → G →
 * tensor2im) on a tiny official-layout generator exported with torch.onnx.export. Every listed
 * input must come back within one grey level (PSNR ≥ 45 dB) from POST /translate?size=native and
 * from `npm run translate`, and the two must be the same bytes.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import { psnr } from '../../core/metrics/psnr';
import { decodeImage } from '../../core/image/decode';
import { resizeBicubic } from '../../core/image/resample';
import { createApp } from '../../serve/app';
import { loadConfig } from '../../serve/config';
import { ModelRepository } from '../../serve/modelRepository';
import { translateTree } from '../../translate/translateTree';

const FIX = path.join(__dirname, '..', 'fixtures', 'pipeline');
const INPUTS = ['rgb_300x200.png', 'rgb_97x61.png', 'photo_1000x700.jpg', 'gray_150x100.png', 'rgba_120x90.png'];

let tmp: string;
let repo: ModelRepository;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'fidelity-'));
  await fs.cp(path.join(FIX, 'model'), path.join(tmp, 'models', 'official-tiny'), { recursive: true });
  const config = loadConfig(
    {},
    { MODELS_DIR: path.join(tmp, 'models'), EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' },
  );
  repo = new ModelRepository(config, pino({ level: 'silent' }));
  await repo.load();
  app = createApp(config, repo, { logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await repo.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

async function pixels(png: Buffer): Promise<{ data: Buffer; channels: number; width: number; height: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, channels: info.channels, width: info.width, height: info.height };
}

function rgbOf(p: { data: Buffer; channels: number }): Buffer {
  if (p.channels === 3) return p.data;
  const n = p.data.length / p.channels;
  const out = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) p.data.copy(out, i * 3, i * p.channels, i * p.channels + 3);
  return out;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function served(file: string, query: string): Promise<Buffer> {
  const res = await request(app)
    .post(`/translate?${query}`)
    .attach('image', await fs.readFile(path.join(FIX, 'inputs', file)), file)
    .buffer(true)
    .parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
  expect([file, res.status]).toEqual([file, 200]);
  return res.body as Buffer;
}

describe('size=native matches the official test.py pipeline', () => {
  it.each(INPUTS)('%s: POST /translate within 1 grey level (PSNR ≥ 45 dB)', async (file) => {
    const expected = await pixels(await fs.readFile(path.join(FIX, 'expected', file.replace(/\.\w+$/, '.png'))));
    const out = await pixels(await served(file, 'size=native&fit=model&format=png'));
    expect([out.width, out.height]).toEqual([64, 64]);
    const rgb = rgbOf(out);
    expect(maxDiff(rgb, expected.data)).toBeLessThanOrEqual(1);
    expect(psnr(rgb, expected.data)).toBeGreaterThanOrEqual(45);
  });

  it('an RGBA input comes back RGBA, its alpha resized with the same resampler', async () => {
    const bytes = await fs.readFile(path.join(FIX, 'inputs', 'rgba_120x90.png'));
    const out = await pixels(await served('rgba_120x90.png', 'size=native&fit=model&format=png'));
    expect(out.channels).toBe(4);
    const alpha = (await decodeImage(bytes, { autoOrient: true, keepAlpha: true, failOn: 'error', maxPixels: 1e6 }))
      .alpha!;
    const want = resizeBicubic(alpha, 64, 64).data;
    const got = out.data.filter((_, i) => i % 4 === 3);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    // fit=original: the input's own alpha, untouched.
    const full = await pixels(await served('rgba_120x90.png', 'size=native&format=png'));
    expect([full.width, full.height, full.channels]).toEqual([120, 90, 4]);
    expect(Buffer.from(full.data.filter((_, i) => i % 4 === 3)).equals(Buffer.from(alpha.data))).toBe(true);
  });

  it('npm run translate gives the same result, byte for byte the same as the server', async () => {
    const input = path.join(tmp, 'in');
    await fs.cp(path.join(FIX, 'inputs'), input, { recursive: true });
    for (const fit of ['model', 'original'] as const) {
      const output = path.join(tmp, `out-${fit}`);
      const summary = await translateTree({
        model: path.join(tmp, 'models', 'official-tiny'),
        modelsDir: path.join(tmp, 'models'),
        direction: 'AtoB',
        input,
        output,
        size: { kind: 'native' },
        fit,
        format: 'png',
        overwrite: false,
        shard: { index: 0, count: 1 },
        engine: { executionProviders: ['cpu'], threads: 1, batchSize: 4, concurrency: 6, maxPixels: 4096 * 4096 },
      });
      expect(summary.done).toBe(INPUTS.length);
      for (const file of INPUTS) {
        const stem = file.replace(/\.\w+$/, '');
        const bulk = await fs.readFile(path.join(output, `${stem}.png`));
        expect([file, bulk.equals(await served(file, `size=native&fit=${fit}&format=png`))]).toEqual([file, true]);
        if (fit === 'model') {
          const expected = await pixels(await fs.readFile(path.join(FIX, 'expected', `${stem}.png`)));
          expect(maxDiff(rgbOf(await pixels(bulk)), expected.data)).toBeLessThanOrEqual(1);
        }
      }
    }
  });
});
