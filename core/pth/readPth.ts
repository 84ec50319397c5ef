/**
 * Reads PyTorch checkpoint files (`torch.save` of a state dict) without Python:
 *
 * - zip format (PyTorch ≥ 1.6): `<archive>/data.pkl` pickles the dict, tensors name their storage
 *   by key as persistent ids, storages are the raw entries `<archive>/data/<key>`; an optional
 *   `<archive>/byteorder` entry says `little` or `big`.
 * - legacy format (PyTorch < 1.6, the official pretrained CycleGAN models): five pickles in a row
 *   (magic number, protocol version, sys info with `little_endian`, the object, the storage keys),
 *   then each storage as an int64 element count and its raw elements. PyTorch's writer
 *   (THPStorage_writeFileRaw) converts counts and elements to little-endian on big-endian hosts
 *   and its reader assumes little-endian, so `little_endian` only records the saving machine.
 *
 * Zip archives from PyTorch ≥ 2.0 record the saving machine's byte order in `byteorder`; their
 * storages are in that order (big-endian from e.g. s390x), and are converted here.
 *
 * Tensors come back as float32 in PyTorch layout (views and non-contiguous strides gathered).
 */
import { promises as fs } from 'node:fs';
import type { NamedTensor } from '../arch/stateDict';
import { isZip, readZipDirectory, readZipEntry, ZipError } from './zip';
import {
  PyDict,
  PyGlobal,
  PyTuple,
  STORAGE_DTYPES,
  unpickle,
  UnpickleError,
  type DType,
  type StorageClass,
  type StorageRef,
  type TensorRef,
} from './unpickle';

export class PthError extends Error {}

/** 0x1950a86a20f9469cfc6c, the legacy format's first pickle. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export interface PthTensor extends NamedTensor {
  /** Element type as stored (values are converted to float32). */
  dtype: DType;
}

export interface PthFile {
  format: 'zip' | 'legacy';
  littleEndian: boolean;
  /** State dict entries in file order. */
  tensors: Map<string, PthTensor>;
}

interface Storage {
  bytes: Buffer;
  storageClass: StorageClass;
}

function storageClassOf(g: unknown, where: string): StorageClass {
  if (g instanceof PyGlobal && (g.module === 'torch' || g.module === 'torch.cuda') && g.name in STORAGE_DTYPES)
    return g.name as StorageClass;
  throw new PthError(`${where}: unsupported storage type ${g instanceof PyGlobal ? g.qualified : String(g)}`);
}

function pidTuple(pid: unknown, where: string): unknown[] {
  if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage')
    throw new PthError(`${where}: unsupported persistent id (not a storage)`);
  return pid.items;
}

/** Reads a .pth file; a missing or unreadable file is a one-line error too. */
export async function readPthFile(file: string): Promise<PthFile> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PthError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`);
  }
  return readPth(buf, file);
}

export function readPth(buf: Buffer, where = 'checkpoint'): PthFile {
  try {
    if (isZip(buf)) return readZipFormat(buf, where);
    return readLegacyFormat(buf, where);
  } catch (e) {
    if (e instanceof ZipError || e instanceof UnpickleError) throw new PthError(`${where}: ${e.message}`);
    if (e instanceof RangeError) throw new PthError(`${where}: file is truncated or corrupt (${e.message})`);
    throw e;
  }
}

function readZipFormat(buf: Buffer, where: string): PthFile {
  const entries = readZipDirectory(buf);
  const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new PthError(`${where}: zip archive without <archive>/data.pkl: not a torch.save file`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  const byteorder = order ? readZipEntry(buf, order).toString('latin1').trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') throw new PthError(`${where}: unknown byteorder '${byteorder}'`);
  const storages = new Map<string, Storage>();
  const { value } = unpickle(readZipEntry(buf, entries.get(pkl)!), 0, (pid) => {
    // ('storage', storage_type, key, location, numel)
    const [, type, key] = pidTuple(pid, where);
    const storageClass = storageClassOf(type, where);
    if (typeof key !== 'string') throw new PthError(`${where}: storage key is not a string`);
    if (!storages.has(key)) {
      const e = entries.get(`${prefix}data/${key}`);
      if (!e) throw new PthError(`${where}: storage ${key} missing from the archive`);
      storages.set(key, { bytes: readZipEntry(buf, e), storageClass });
    }
    return { key, storageClass, viewOffset: 0 } satisfies StorageRef;
  });
  return {
    format: 'zip',
    littleEndian: byteorder === 'little',
    tensors: materialize(value, storages, byteorder === 'little', where),
  };
}

function readLegacyFormat(buf: Buffer, where: string): PthFile {
  const notTorch = `${where}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save stream)`;
  if (buf.length < 2 || buf[0] !== 0x80) throw new PthError(notTorch);
  let magic: unknown;
  let p: number;
  try {
    ({ value: magic, end: p } = unpickle(buf, 0, () => {
      throw new PthError(notTorch);
    }));
  } catch (e) {
    if (e instanceof UnpickleError) throw new PthError(`${notTorch}: ${e.message}`);
    throw e;
  }
  if (typeof magic !== 'bigint' || magic !== LEGACY_MAGIC) throw new PthError(`${notTorch}: wrong magic number`);
  const noPid = () => {
    throw new PthError(`${where}: unexpected persistent id in the header`);
  };
  const proto = unpickle(buf, p, noPid);
  if (proto.value !== LEGACY_PROTOCOL)
    throw new PthError(`${where}: unsupported legacy protocol ${String(proto.value)}`);
  const sys = unpickle(buf, proto.end, noPid);
  if (!(sys.value instanceof PyDict) || typeof sys.value.map.get('little_endian') !== 'boolean')
    throw new PthError(`${where}: sys info without little_endian`);
  const littleEndian = true; // on disk, whatever the saving machine was (see above)

  // ('storage', storage_type, root_key, location, numel, view_metadata)
  const classes = new Map<string, StorageClass>();
  const obj = unpickle(buf, sys.end, (pid) => {
    const [, type, key, , , view] = pidTuple(pid, where);
    const storageClass = storageClassOf(type, where);
    if (typeof key !== 'string') throw new PthError(`${where}: storage key is not a string`);
    classes.set(key, storageClass);
    let viewOffset = 0;
    if (view instanceof PyTuple && typeof view.items[1] === 'number') viewOffset = view.items[1];
    return { key, storageClass, viewOffset } satisfies StorageRef;
  });
  const keys = unpickle(buf, obj.end, noPid);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string'))
    throw new PthError(`${where}: storage key list is malformed`);
  let q = keys.end;
  const storages = new Map<string, Storage>();
  for (const key of keys.value as string[]) {
    const storageClass = classes.get(key);
    if (!storageClass) throw new PthError(`${where}: storage ${key} is not used by any tensor`);
    if (q + 8 > buf.length) throw new PthError(`${where}: file is truncated (storage ${key})`);
    const n = Number(littleEndian ? buf.readBigInt64LE(q) : buf.readBigInt64BE(q));
    const bytes = n * STORAGE_DTYPES[storageClass].bytes;
    q += 8;
    if (n < 0 || q + bytes > buf.length) throw new PthError(`${where}: file is truncated (storage ${key})`);
    storages.set(key, { bytes: buf.subarray(q, q + bytes), storageClass });
    q += bytes;
  }
  return { format: 'legacy', littleEndian, tensors: materialize(obj.value, storages, littleEndian, where) };
}

function materialize(
  value: unknown,
  storages: Map<string, Storage>,
  le: boolean,
  where: string,
): Map<string, PthTensor> {
  if (!(value instanceof PyDict)) throw new PthError(`${where}: holds a ${typeName(value)}, not a state dict`);
  const out = new Map<string, PthTensor>();
  for (const [k, v] of value.map) {
    if (typeof k !== 'string') throw new PthError(`${where}: state dict key ${String(k)} is not a string`);
    if (!v || typeof v !== 'object' || (v as TensorRef).kind !== 'tensor')
      throw new PthError(`${where}: '${k}' holds a ${typeName(v)}, not a tensor (not a plain state dict)`);
    out.set(k, tensor(v as TensorRef, storages, le, `${where}: '${k}'`));
  }
  return out;
}

function typeName(v: unknown): string {
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  return v === null ? 'None' : typeof v;
}

function tensor(t: TensorRef, storages: Map<string, Storage>, le: boolean, where: string): PthTensor {
  const s = storages.get(t.storage.key);
  if (!s) throw new PthError(`${where}: storage ${t.storage.key} missing`);
  const { dtype, bytes: width } = STORAGE_DTYPES[t.storage.storageClass];
  const numel = t.size.reduce((a, b) => a * b, 1);
  const available = s.bytes.length / width;
  const base = t.storage.viewOffset + t.offset;
  // Highest element index the tensor touches must lie inside the storage.
  const last = numel === 0 ? base - 1 : base + t.size.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
  if (last >= available) throw new PthError(`${where}: tensor reaches past its storage (truncated file?)`);
  const read = reader(dtype, s.bytes, le);
  const data = new Float32Array(numel);
  const contiguous = t.stride.every(
    (st, i) => t.size[i] === 1 || st === t.size.slice(i + 1).reduce((a, b) => a * b, 1),
  );
  if (contiguous && dtype === 'float32' && le) {
    // Fast path (the usual case): one copy of the bytes.
    new Uint8Array(data.buffer).set(s.bytes.subarray(base * 4, (base + numel) * 4));
  } else if (contiguous) {
    for (let i = 0; i < numel; i++) data[i] = read(base + i);
  } else {
    // Gather in row-major order of `size`.
    const idx = new Array<number>(t.size.length).fill(0);
    for (let i = 0; i < numel; i++) {
      let off = base;
      for (let d = 0; d < idx.length; d++) off += idx[d] * t.stride[d];
      data[i] = read(off);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < t.size[d]) break;
        idx[d] = 0;
      }
    }
  }
  return { shape: [...t.size], data, dtype };
}

function reader(dtype: DType, b: Buffer, le: boolean): (i: number) => number {
  switch (dtype) {
    case 'float32':
      return le ? (i) => b.readFloatLE(i * 4) : (i) => b.readFloatBE(i * 4);
    case 'float64':
      return le ? (i) => b.readDoubleLE(i * 8) : (i) => b.readDoubleBE(i * 8);
    case 'float16':
      return (i) => halfToFloat(le ? b.readUInt16LE(i * 2) : b.readUInt16BE(i * 2));
    case 'bfloat16': {
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      return (i) => ((u[0] = (le ? b.readUInt16LE(i * 2) : b.readUInt16BE(i * 2)) << 16), f[0]);
    }
    case 'int64':
      return (i) => Number(le ? b.readBigInt64LE(i * 8) : b.readBigInt64BE(i * 8));
    case 'int32':
      return le ? (i) => b.readInt32LE(i * 4) : (i) => b.readInt32BE(i * 4);
    case 'int16':
      return le ? (i) => b.readInt16LE(i * 2) : (i) => b.readInt16BE(i * 2);
    case 'int8':
      return (i) => b.readInt8(i);
    case 'uint8':
    case 'bool':
      return (i) => b[i];
  }
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
