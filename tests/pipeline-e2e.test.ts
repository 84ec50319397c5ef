/**
 * The three parts together: train a tiny CycleGAN for a few iterations, export it (verified
 * against the trainer's tfjs generator), serve it, and check that the HTTP answer equals the tfjs
 * generator applied to the same preprocessed input, within one grey level.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import pino from 'pino';
import sharp from 'sharp';
import request from 'supertest';
import { parseTrainOptions } from '../train/trainOptions';
import { generatorSpec } from '../core/arch/spec';
import { initBackend } from '../core/tf/backend';
import { makeShapesDataset } from '../tools/make_shapes_dataset';
import { checkpointNet, loadCheckpoint } from '../train/checkpoint';
import { TfNetwork } from '../train/tfjs/networks';
import { generatorOptions, type ModelOptions } from '../train/model/cycleGan';
import { exportRun } from '../export/exportModel';
import { tfjsReference } from '../export/tfjsReference';
import { createApp } from '../serve/app';
import { loadConfig } from '../serve/config';
import { ModelRepository } from '../serve/modelRepository';
import { preprocessImage, parseSizeMode } from '../inference/preprocess';
import { fromNchw } from '../inference/postprocess';
import { TINY_NETWORKS, trainQuietly } from './helpers/tinyTraining';

const root = mkdtempSync(path.join(tmpdir(), 'e2e-'));
const dataroot = path.join(root, 'data');
const checkpoints = path.join(root, 'ck');
const models = path.join(root, 'models');
let server: Server | undefined;
let repo: ModelRepository | undefined;

beforeAll(async () => {
  await initBackend('wasm');
  await makeShapesDataset({ out: dataroot, size: 40, n: 3, n_test: 2, seed: 9, force: false });
  const o = parseTrainOptions({
    dataroot,
    name: 'tiny',
    checkpoints_dir: checkpoints,
    ...TINY_NETWORKS,
    max_iters: 3,
    seed: 1,
    backend: 'wasm',
  });
  await trainQuietly(o);
});

afterAll(async () => {
  if (server) await new Promise((r) => server!.close(r));
  await repo?.close();
});

test('export writes a verified model folder from the trained checkpoint', async () => {
  const r = await exportRun(checkpoints, 'tiny', 'latest', {
    out: path.join(models, 'tiny'),
    reference: tfjsReference,
    referenceName: 'tfjs',
    log: () => undefined,
  });
  expect(readdirSync(r.out).sort()).toEqual([
    'AtoB.onnx',
    'AtoB.tile-apply.onnx',
    'AtoB.tile-stats.onnx',
    'AtoB.weights',
    'BtoA.onnx',
    'BtoA.tile-apply.onnx',
    'BtoA.tile-stats.onnx',
    'BtoA.weights',
    'model.json',
  ]);
  expect(r.manifest.preferredSize).toBe(32);
  expect(r.verification.AtoB!.fp32.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  expect(r.verification.BtoA!.fp32.maxAbsDiff).toBeLessThanOrEqual(1e-4);
});

test.each(['AtoB', 'BtoA'] as const)(
  '%s: served output equals the tfjs generator within one grey level',
  async (dir) => {
    if (!server) {
      const config = loadConfig({}, { MODELS_DIR: models, EXECUTION_PROVIDERS: ['cpu'], LOG_LEVEL: 'silent' });
      repo = new ModelRepository(config, pino({ level: 'silent' }));
      await repo.load();
      server = createApp(config, repo, { logger: pino({ level: 'silent' }) }).listen(0, '127.0.0.1');
      await once(server, 'listening');
    }
    const file = path.join(dataroot, dir === 'AtoB' ? 'testA' : 'testB', readdirSync(path.join(dataroot, 'testA'))[0]);
    const image = readFileSync(file);
    const res = await request(server)
      .post(`/translate?dir=${dir}&model=tiny&fit=model&format=png`)
      .attach('image', image, 'in.png');
    expect(res.status).toBe(200);
    const served = await sharp(res.body).raw().toBuffer({ resolveWithObject: true });

    // The same preprocessed tensor through the checkpoint's tfjs generator.
    const pre = await preprocessImage(image, {
      channels: 3,
      size: parseSizeMode('native'),
      maxPixels: 1e6,
      preferredSize: 32,
      sizeMultiple: 4,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
    const ck = await loadCheckpoint(path.join(checkpoints, 'tiny', 'latest.ckpt'));
    const opts = ck.meta.options as unknown as ModelOptions;
    const net = new TfNetwork(
      generatorSpec(generatorOptions(opts, dir)),
      'e2e',
      checkpointNet(ck, dir === 'AtoB' ? 'G_A' : 'G_B'),
    );
    const y = tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(pre.input.data, pre.input.dims), [0, 2, 3, 1]) as tf.Tensor4D;
      return tf.transpose(net.apply(x, { training: false }), [0, 3, 1, 2]);
    });
    const ours = fromNchw((await y.data()) as Float32Array, y.shape, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    y.dispose();
    net.dispose();
    expect([served.info.width, served.info.height]).toEqual([ours.width, ours.height]);
    let maxDiff = 0;
    for (let i = 0; i < ours.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours.data[i] - served.data[i]));
    expect(maxDiff).toBeLessThanOrEqual(1);
    // The comparison means something only if the network changed the image.
    const input8 = fromNchw(pre.input.data, pre.input.dims, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    let changed = 0;
    for (let i = 0; i < ours.data.length; i++) changed += Math.abs(ours.data[i] - input8.data[i]);
    expect(changed / ours.data.length).toBeGreaterThan(5);
  },
);
