/**
 * A small self-describing container for named float32 tensors plus JSON metadata, used for
 * checkpoints. Layout: magic `CGTSTNSR`, u32 version, u32 header bytes, UTF-8 JSON header,
 * zero padding to 4 bytes, then little-endian float32 data. The header records a sha256 of the
 * data so truncation or corruption is reported instead of silently loaded.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { NamedTensor } from '../arch/stateDict';
import { numel } from '../arch/stateDict';
import { writeFileAtomic } from './atomicWrite';

const MAGIC = 'CGTSTNSR';
const VERSION = 1;

interface Header {
  meta: unknown;
  tensors: { key: string; shape: number[]; offset: number }[];
  dataBytes: number;
  sha256: string;
}

export interface TensorFile<M = unknown> {
  meta: M;
  tensors: Map<string, NamedTensor>;
}

export function encodeTensorFile(meta: unknown, tensors: Map<string, NamedTensor>): Buffer {
  let offset = 0;
  const entries: Header['tensors'] = [];
  for (const [key, t] of tensors) {
    if (t.data.length !== numel(t.shape))
      throw new Error(`tensor '${key}': ${t.data.length} values for shape [${t.shape}]`);
    entries.push({ key, shape: t.shape, offset });
    offset += t.data.length * 4;
  }
  const data = Buffer.alloc(offset);
  for (const [key, t] of tensors) {
    const e = entries.find((x) => x.key === key)!;
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(data, e.offset);
  }
  if (!isLittleEndian()) throw new Error('big-endian hosts are not supported');
  const header: Header = {
    meta,
    tensors: entries,
    dataBytes: offset,
    sha256: createHash('sha256').update(data).digest('hex'),
  };
  const headerBuf = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (4 - ((8 + 8 + headerBuf.length) % 4)) % 4;
  const prefix = Buffer.alloc(16);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(VERSION, 8);
  prefix.writeUInt32LE(headerBuf.length + pad, 12);
  return Buffer.concat([prefix, headerBuf, Buffer.alloc(pad, 0x20), data]);
}

export function decodeTensorFile<M = unknown>(buf: Buffer, where = 'tensor file'): TensorFile<M> {
  if (buf.length < 16 || buf.toString('latin1', 0, 8) !== MAGIC)
    throw new Error(`${where}: not a cyclegan-ts tensor file`);
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) throw new Error(`${where}: unsupported version ${version}`);
  const headerLen = buf.readUInt32LE(12);
  if (16 + headerLen > buf.length) throw new Error(`${where}: truncated header`);
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 16, 16 + headerLen)) as Header;
  } catch {
    throw new Error(`${where}: corrupt header`);
  }
  const dataStart = 16 + headerLen;
  if (buf.length - dataStart !== header.dataBytes) {
    throw new Error(`${where}: expected ${header.dataBytes} data bytes, found ${buf.length - dataStart} (truncated?)`);
  }
  const data = buf.subarray(dataStart);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) throw new Error(`${where}: checksum mismatch`);
  // Copy into an aligned buffer: Float32Array views need 4-byte alignment of the underlying offset.
  const aligned = new Uint8Array(data.length);
  aligned.set(data);
  const tensors = new Map<string, NamedTensor>();
  for (const e of header.tensors) {
    const n = numel(e.shape);
    tensors.set(e.key, { shape: e.shape, data: new Float32Array(aligned.buffer, e.offset, n) });
  }
  return { meta: header.meta as M, tensors };
}

export async function writeTensorFile(file: string, meta: unknown, tensors: Map<string, NamedTensor>): Promise<void> {
  await writeFileAtomic(file, encodeTensorFile(meta, tensors));
}

export async function readTensorFile<M = unknown>(file: string): Promise<TensorFile<M>> {
  return decodeTensorFile<M>(await fs.readFile(file), file);
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
