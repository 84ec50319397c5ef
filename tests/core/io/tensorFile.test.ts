import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { encodeTensorFile, decodeTensorFile, writeTensorFile, readTensorFile } from '../../../core/io/tensorFile';

const sample = () =>
  new Map([
    ['a.weight', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) }],
    ['b', { shape: [1], data: Float32Array.from([-0.25]) }],
  ]);

describe('tensor file', () => {
  test('round-trips metadata and tensors exactly', () => {
    const buf = encodeTensorFile({ epoch: 3, name: 'x' }, sample());
    const back = decodeTensorFile<{ epoch: number }>(buf);
    expect(back.meta.epoch).toBe(3);
    expect(Array.from(back.tensors.get('a.weight')!.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(back.tensors.get('b')!.shape).toEqual([1]);
  });

  test('rejects truncation, corruption and foreign files with a clear message', () => {
    const buf = encodeTensorFile({}, sample());
    expect(() => decodeTensorFile(buf.subarray(0, buf.length - 4), 'f')).toThrow(/f: expected 28 data bytes, found 24/);
    const flipped = Buffer.from(buf);
    flipped[flipped.length - 1] ^= 0xff;
    expect(() => decodeTensorFile(flipped, 'f')).toThrow(/checksum mismatch/);
    expect(() => decodeTensorFile(Buffer.from('PK\u0003\u0004 not ours at all'), 'f')).toThrow(
      /not a cyclegan-ts tensor file/,
    );
  });

  test('rejects a tensor whose data does not match its shape', () => {
    expect(() => encodeTensorFile({}, new Map([['x', { shape: [3], data: new Float32Array(2) }]]))).toThrow(/2 values/);
  });

  test('writes atomically: no temp files left, old content replaced whole', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tf-'));
    const file = path.join(dir, 'latest.ckpt');
    writeFileSync(file, 'old');
    await writeTensorFile(file, { v: 2 }, sample());
    expect(readdirSync(dir)).toEqual(['latest.ckpt']);
    expect((await readTensorFile<{ v: number }>(file)).meta.v).toBe(2);
    expect(readFileSync(file).subarray(0, 8).toString()).toBe('CGTSTNSR');
  });
});
