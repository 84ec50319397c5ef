import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import { parseManifest } from '../../core/modelManifest';
import { exportCheckpoint } from '../../export/exportModel';
import { embedExternalWeights } from '../../core/onnx/externalWeights';
import { EXTERNAL_MIN_BYTES, shareWeights } from '../../export/sharedWeights';
import { weightsFromOnnx } from '../../export/tilingGraphs';
import { openModel } from '../../inference/openModel';
import { createSession, float32Tensor } from '../../core/onnx/ortRuntime';
import { describeModelFolder, servableFiles } from '../../web/modelListing';
import { randomWeights, specFor, tinyOptions, writeCheckpoint } from '../helpers/exportFixtures';

// ngf 8: most weights are over EXTERNAL_MIN_BYTES, the instance-norm constants are not.
const OPTIONS = tinyOptions({ ngf: 8 });
let tmp: string;
let modelDir: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'shared-weights-'));
  const ckpt = await writeCheckpoint(path.join(tmp, 'ck'), 'tiny', 3, OPTIONS, 5);
  modelDir = path.join(tmp, 'model');
  await exportCheckpoint(ckpt, { out: modelDir, verifySize: 16 });
}, 120_000);

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const graphsOf = (d: 'AtoB' | 'BtoA') => [`${d}.onnx`, `${d}.tile-stats.onnx`, `${d}.tile-apply.onnx`];

describe('exported graphs share one external weights file per direction', () => {
  test('model.json names the weights file with its sha256; the graphs keep only small constants inline', async () => {
    const manifest = parseManifest(JSON.parse(await fs.readFile(path.join(modelDir, 'model.json'), 'utf8')), 'x');
    for (const d of ['AtoB', 'BtoA'] as const) {
      expect(manifest.directions[d]!.weights?.file).toBe(`${d}.weights`);
      for (const f of graphsOf(d)) {
        const model = onnx.ModelProto.decode(await fs.readFile(path.join(modelDir, f)));
        const inits = model.graph!.initializer!;
        const external = inits.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
        expect(external.length).toBeGreaterThan(0);
        for (const t of external) expect(t.externalData!.find((e) => e.key === 'location')!.value).toBe(`${d}.weights`);
        for (const t of inits.filter((x) => !external.includes(x)))
          expect(t.rawData?.byteLength ?? 0).toBeLessThan(EXTERNAL_MIN_BYTES);
      }
    }
  });

  test('the weights are stored once: the data file is about one generator, not three', async () => {
    const spec = specFor(OPTIONS, 'G_A');
    const large = [...randomWeights(spec, 1).values()]
      .map((t) => t.data.byteLength)
      .filter((b) => b >= EXTERNAL_MIN_BYTES)
      .reduce((a, b) => a + b, 0);
    const size = (await fs.stat(path.join(modelDir, 'AtoB.weights'))).size;
    expect(size).toBeGreaterThanOrEqual(large);
    expect(size).toBeLessThan(large + 64 * 64); // alignment padding only
  });

  test('reading the weights back gives the checkpoint weights (what tools/add_tiling_graphs.ts reads)', async () => {
    const spec = specFor(OPTIONS, 'G_A');
    const back = weightsFromOnnx(await embedExternalWeights(modelDir, 'AtoB.onnx'), spec, 'AtoB.onnx');
    const expected = randomWeights(spec, 5 * 10);
    for (const [k, t] of expected) expect(back.get(k)!.data).toEqual(t.data);
  });

  test('the server-side loader opens and runs the folder, tiled and untiled', async () => {
    const model = await openModel(modelDir, {
      providers: ['cpu'],
      session: { intraOpThreads: 1 },
      maxBatch: 1,
      batchDelayMs: 0,
      maxQueue: 4,
      limits: { maxPixels: 4096 * 4096 },
    });
    try {
      const png = await sharp({ create: { width: 200, height: 180, channels: 3, background: '#3080c0' } })
        .png()
        .toBuffer();
      const plain = await model.run(png, { direction: 'AtoB', size: { kind: 'native' } });
      expect([plain.output.width, plain.output.height]).toEqual([32, 32]);
      const tiled = await model.run(png, { direction: 'BtoA', size: { kind: 'original' }, tile: 96 });
      expect([tiled.output.width, tiled.output.height]).toEqual([200, 180]);
    } finally {
      await model.close();
    }
  });

  test("the browser page's listing describes the graph it gets: weights embedded, opened from bytes", async () => {
    const manifest = parseManifest(JSON.parse(await fs.readFile(path.join(modelDir, 'model.json'), 'utf8')), 'x');
    const embedded = await embedExternalWeights(modelDir, 'AtoB.onnx');
    expect(embedded.byteLength).toBeGreaterThan((await fs.stat(path.join(modelDir, 'AtoB.weights'))).size);
    const listing = await describeModelFolder(modelDir, manifest, ['AtoB']);
    expect(listing.directions.AtoB).toMatchObject({
      bytes: embedded.byteLength,
      sha256: createHash('sha256').update(embedded).digest('hex'),
    });
    // The route serves the embedded body, so its ETag is computed from that body, not the manifest's hash.
    expect(servableFiles(manifest).get('AtoB.onnx')).toBeNull();
    const session = await createSession(embedded);
    try {
      const out = await session.run({ input: float32Tensor(new Float32Array(3 * 32 * 32).fill(0.1), [1, 3, 32, 32]) });
      expect(out.output.dims).toEqual([1, 3, 32, 32]);
    } finally {
      await session.release();
    }
  });

  test('a changed or missing weights file is refused when the folder is opened', async () => {
    const copy = path.join(tmp, 'broken');
    await fs.cp(modelDir, copy, { recursive: true });
    const settings = {
      providers: ['cpu' as const],
      session: { intraOpThreads: 1 },
      maxBatch: 1,
      batchDelayMs: 0,
      maxQueue: 4,
      limits: { maxPixels: 4096 * 4096 },
    };
    const data = await fs.readFile(path.join(copy, 'AtoB.weights'));
    data[100] ^= 1;
    await fs.writeFile(path.join(copy, 'AtoB.weights'), data);
    await expect(openModel(copy, settings)).rejects.toThrow(
      'AtoB weights file AtoB.weights does not match its sha256 (corrupt or replaced)',
    );
    await fs.rm(path.join(copy, 'AtoB.weights'));
    await expect(openModel(copy, settings)).rejects.toThrow('AtoB weights file AtoB.weights is missing');
  });
});

describe('shareWeights / embedExternalWeights', () => {
  test('identical tensors of different graphs share one range; a location outside the folder is refused', async () => {
    const t = (name: string, fill: number) => ({
      name,
      dataType: onnx.TensorProto.DataType.FLOAT,
      dims: [512],
      rawData: new Uint8Array(new Float32Array(512).fill(fill).buffer),
    });
    const model = (inits: onnx.ITensorProto[]) =>
      onnx.ModelProto.encode({ irVersion: 8, graph: { name: 'g', initializer: inits } }).finish();
    const { graphs, data } = shareWeights(
      new Map([
        ['a.onnx', model([t('w', 1), t('v', 2)])],
        ['b.onnx', model([t('w', 1)])],
      ]),
      'x.weights',
    );
    expect(data.byteLength).toBe(2 * 2048);
    const dir = await fs.mkdtemp(path.join(tmp, 'unit-'));
    await fs.writeFile(path.join(dir, 'x.weights'), data);
    for (const [f, bytes] of graphs) await fs.writeFile(path.join(dir, f), bytes);
    const back = onnx.ModelProto.decode(await embedExternalWeights(dir, 'b.onnx'));
    expect(new Float32Array(Uint8Array.from(back.graph!.initializer![0].rawData!).buffer)[7]).toBe(1);

    const evil = onnx.ModelProto.decode(graphs.get('a.onnx')!);
    evil.graph!.initializer![0].externalData![0].value = '../x.weights';
    await fs.writeFile(path.join(dir, 'evil.onnx'), onnx.ModelProto.encode(evil).finish());
    await expect(embedExternalWeights(dir, 'evil.onnx')).rejects.toThrow(
      "has external location '../x.weights', not a file in the folder",
    );
  });
});
