/**
 * An ONNX file exported by PyTorch itself (tests/fixtures/onnx/resnet_tiny.onnx, written by
 * tools/make_onnx_fixture.py with torch.onnx.export) wrapped into a model folder with a
 * hand-written model.json, exactly as export/README.md describes for files exported from the
 * official PyTorch code.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSession, float32Tensor } from '../../core/onnx/ortRuntime';
import { generatorSpec } from '../../core/arch/spec';
import { MANIFEST_FILE, readManifest } from '../../core/modelManifest';
import { buildGeneratorOnnx } from '../../export/onnxBuilder';
import { compareOutputs } from '../../export/verify';
import { loadOnnxFixture, ONNX_FIXTURE_DIR } from '../helpers/exportFixtures';

const fixture = loadOnnxFixture('resnet_tiny');
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-wrap-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The README recipe: copy the file in, write model.json by hand. */
async function wrap(): Promise<string> {
  const folder = path.join(dir, 'resnet_tiny_pytorch');
  await fs.mkdir(folder, { recursive: true });
  const onnxBytes = await fs.readFile(path.join(ONNX_FIXTURE_DIR, 'resnet_tiny.onnx'));
  await fs.writeFile(path.join(folder, 'AtoB.onnx'), onnxBytes);
  const manifest = {
    format: 'cyclegan-ts/model@1',
    name: 'resnet_tiny_pytorch',
    description: 'Exported with torch.onnx.export from the PyTorch ResnetGenerator',
    directions: { AtoB: { file: 'AtoB.onnx', sha256: createHash('sha256').update(onnxBytes).digest('hex') } },
    inputNc: 3,
    outputNc: 3,
    preferredSize: 32,
    sizeMultiple: 4,
    normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    io: { input: 'input', output: 'output', layout: 'NCHW' },
  };
  await fs.writeFile(path.join(folder, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  return folder;
}

/** What a loader does with a model folder: validate model.json, check the hash, open the session. */
async function load(folder: string) {
  const manifest = await readManifest(folder);
  const entry = manifest.directions.AtoB!;
  const bytes = await fs.readFile(path.join(folder, entry.file));
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(entry.sha256);
  const session = await createSession(bytes, { executionProviders: ['cpu'] });
  return { manifest, session };
}

describe('a PyTorch-exported ONNX generator wrapped with model.json', () => {
  test('the fixture is what tools/make_onnx_fixture.py promises: small, opset 17, dynamic N/H/W', async () => {
    const stat = await fs.stat(path.join(ONNX_FIXTURE_DIR, 'resnet_tiny.onnx'));
    expect(stat.size).toBeLessThan(200 * 1024);
    const { onnx } = await import('onnx-proto');
    const m = onnx.ModelProto.toObject(
      onnx.ModelProto.decode(await fs.readFile(path.join(ONNX_FIXTURE_DIR, 'resnet_tiny.onnx'))),
      { longs: Number },
    );
    expect(m.producerName).toBe('pytorch');
    expect(m.opsetImport).toEqual([expect.objectContaining({ version: 17 })]);
    const dims = m.graph.input[0].type.tensorType.shape.dim.map((d: { dimParam?: string; dimValue?: number }) =>
      d.dimParam ? d.dimParam : d.dimValue,
    );
    expect(dims).toEqual(['N', 3, 'H', 'W']);
  });

  test('loads and reproduces PyTorch outputs (square and non-square batch)', async () => {
    const { manifest, session } = await load(await wrap());
    try {
      expect(session.inputNames).toEqual([manifest.io.input]);
      expect(session.outputNames).toEqual([manifest.io.output]);
      for (const c of ['square', 'nonsquare']) {
        const input = fixture.tensor(`input/${c}`);
        const expected = fixture.tensor(`output/${c}`);
        const out = (await session.run({ [manifest.io.input]: float32Tensor(input.data, input.shape) }))[
          manifest.io.output
        ];
        expect([...out.dims]).toEqual(expected.shape);
        expect(compareOutputs(out.data as Float32Array, expected.data).max).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await session.release();
    }
  });

  test('the TypeScript builder, given the same state_dict, computes what the PyTorch export computes', async () => {
    const ours = await createSession(buildGeneratorOnnx(generatorSpec(fixture.generator), fixture.state));
    const theirs = await createSession(await fs.readFile(path.join(ONNX_FIXTURE_DIR, 'resnet_tiny.onnx')));
    try {
      expect(ours.inputNames).toEqual(theirs.inputNames);
      expect(ours.outputNames).toEqual(theirs.outputNames);
      const input = fixture.tensor('input/nonsquare');
      const feeds = { input: float32Tensor(input.data, input.shape) };
      const a = (await ours.run(feeds)).output.data as Float32Array;
      const b = (await theirs.run(feeds)).output.data as Float32Array;
      expect(compareOutputs(a, b).max).toBeLessThanOrEqual(1e-5);
    } finally {
      await ours.release();
      await theirs.release();
    }
  });
});
