/**
 * core/pth/readPth.ts against files written by PyTorch 1.13 (tests/fixtures/pth, from
 * tools/make_pth_fixtures.py) in both formats, byte orders crafted with tools/writePth.ts, and
 * malformed or malicious files, which must be refused with a clear message and never executed.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PthError, readPth } from '../../../core/pth/readPth';
import { encodePth, maliciousPickle, zipStored } from '../../../tools/writePth';
import type { NamedTensor } from '../../../core/arch/stateDict';

const DIR = path.join(__dirname, '..', '..', 'fixtures', 'pth');
const expected = JSON.parse(readFileSync(path.join(DIR, 'dtypes.json'), 'utf8')) as Record<
  string,
  { shape: number[]; dtype: string; values: number[] }
>;

describe.each(['dtypes.pth', 'dtypes_legacy.pth', 'dtypes_deflated.pth'])('%s (written by PyTorch)', (file) => {
  const pth = readPth(readFileSync(path.join(DIR, file)), file);

  it('is recognised in its format', () => {
    expect(pth.format).toBe(file.includes('legacy') ? 'legacy' : 'zip');
    expect([...pth.tensors.keys()]).toEqual(Object.keys(expected));
  });

  it.each(Object.keys(expected))('%s: shape, dtype and values (views and strides gathered)', (key) => {
    const t = pth.tensors.get(key)!;
    expect(t.shape).toEqual(expected[key].shape);
    expect(t.dtype).toBe(expected[key].dtype);
    // Values are float32: the float64 entries round once, the large int64 loses its low bits.
    const want = Float32Array.from(expected[key].values);
    expect(Array.from(t.data)).toEqual(Array.from(want));
  });
});

describe('byte order', () => {
  const sd = new Map<string, NamedTensor>([
    ['w', { shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 1e-8, -7e5, 0.1]) }],
    ['b', { shape: [1], data: Float32Array.from([-0.3]) }],
  ]);
  const little = readPth(encodePth(sd, { format: 'zip' }));

  it('zip archive with byteorder "big" (PyTorch ≥ 2.0 on a big-endian machine) is converted', () => {
    const big = encodePth(sd, { format: 'zip', littleEndian: false });
    const r = readPth(big);
    expect(r.littleEndian).toBe(false);
    for (const [k, t] of sd) expect(Array.from(r.tensors.get(k)!.data)).toEqual(Array.from(t.data));
    // The bytes really differ from the little-endian file: the conversion is being exercised.
    expect(big.equals(encodePth(sd, { format: 'zip' }))).toBe(false);
    for (const [k, t] of sd) expect(Array.from(little.tensors.get(k)!.data)).toEqual(Array.from(t.data));
  });

  it('legacy file from a big-endian machine (sys info little_endian False) reads like PyTorch reads it', () => {
    const r = readPth(encodePth(sd, { format: 'legacy', littleEndian: false }));
    expect(r.format).toBe('legacy');
    for (const [k, t] of sd) expect(Array.from(r.tensors.get(k)!.data)).toEqual(Array.from(t.data));
  });
});

it('zip64 archives (sizes and offsets in zip64 records, as for files over 4 GB)', () => {
  const sd = new Map<string, NamedTensor>([['w', { shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 4]) }]]);
  const r = readPth(encodePth(sd, { format: 'zip', zip64: true }));
  expect(Array.from(r.tensors.get('w')!.data)).toEqual([1, -2, 3.5, 4]);
});

it('legacy files saved from the GPU (torch.cuda.FloatStorage) read like CPU ones', () => {
  const sd = new Map<string, NamedTensor>([['w', { shape: [3], data: Float32Array.from([1, -2, 3.5]) }]]);
  const cpu = encodePth(sd, { format: 'legacy' });
  const gpu = Buffer.from(
    cpu.toString('latin1').replace('ctorch\nFloatStorage\n', 'ctorch.cuda\nFloatStorage\n'),
    'latin1',
  );
  expect(gpu.length).toBe(cpu.length + 5);
  expect(Array.from(readPth(gpu).tensors.get('w')!.data)).toEqual([1, -2, 3.5]);
});

describe('refused', () => {
  const good = readFileSync(path.join(DIR, 'resnet_zip.pth'));
  const expectRefused = (buf: Buffer, pattern: RegExp) => {
    let err: unknown;
    try {
      readPth(buf, 'x.pth');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PthError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain('\n');
  };

  it.each([
    ['os', 'system'],
    ['builtins', 'eval'],
    ['posix', 'system'],
    ['torch', 'load'],
  ])('a pickle referencing %s.%s (zip and legacy)', (module, name) => {
    const pkl = maliciousPickle(module, name, 'touch /tmp/pwned');
    const re = new RegExp(`refusing to load global '${module}\\.${name}'`);
    expectRefused(encodePth(new Map(), { format: 'zip', pickleOverride: pkl }), re);
    expectRefused(encodePth(new Map(), { format: 'legacy', pickleOverride: pkl }), re);
  });

  it('a truncated zip archive', () => {
    expectRefused(good.subarray(0, Math.floor(good.length * 0.6)), /x\.pth: .*truncated/);
    expectRefused(good.subarray(0, good.length - 10), /x\.pth: /);
  });

  it('a truncated legacy file', () => {
    const legacy = readFileSync(path.join(DIR, 'resnet_legacy.pth'));
    expectRefused(legacy.subarray(0, legacy.length - 100), /truncated/);
    expectRefused(legacy.subarray(0, 300), /truncated/);
  });

  it('files that are not PyTorch checkpoints (wrong magic)', () => {
    expectRefused(Buffer.from('hello, not a checkpoint'), /not a PyTorch checkpoint/);
    expectRefused(Buffer.from([0x80, 0x02, 0x4b, 0x07, 0x2e]), /not a PyTorch checkpoint.*wrong magic number/);
    expectRefused(zipStored([['a/b.txt', Buffer.from('x')]]), /without <archive>\/data\.pkl/);
  });

  it('a pickle holding something other than a state dict of tensors', () => {
    const list = Buffer.from([0x80, 0x02, 0x5d, 0x2e]); // []
    expectRefused(encodePth(new Map(), { format: 'zip', pickleOverride: list }), /holds a list, not a state dict/);
  });
});
