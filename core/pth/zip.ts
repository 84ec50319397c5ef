/**
 * Just enough of the zip format to read `torch.save` archives: the central directory (with its
 * zip64 variants, which PyTorch writes for large files) and STORED or DEFLATEd entries.
 *
 * A hand-written reader rather than a library: torch archives are read whole into memory and
 * accessed at random (data.pkl first, then storages by key), entries are STORED, and the reader is
 * ~100 lines on node:zlib; streaming libraries like yauzl add callbacks and a dependency for no gain.
 */
import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {}

export interface ZipEntry {
  name: string;
  /** Byte range of the stored data in the archive. */
  dataStart: number;
  compressedSize: number;
  size: number;
  method: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
}

function u64(b: Buffer, off: number): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('zip offset out of range');
  return Number(v);
}

/** Reads the central directory of `buf`; throws ZipError for anything truncated or inconsistent. */
export function readZipDirectory(buf: Buffer): Map<string, ZipEntry> {
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('no zip end-of-central-directory record (truncated file?)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (eocd >= 20 && buf.readUInt32LE(eocd - 20) === EOCD64_LOCATOR) {
    const at = u64(buf, eocd - 20 + 8);
    if (at + 56 > buf.length || buf.readUInt32LE(at) !== EOCD64) throw new ZipError('bad zip64 end record');
    count = u64(buf, at + 32);
    cdSize = u64(buf, at + 40);
    cdOffset = u64(buf, at + 48);
  }
  if (cdOffset + cdSize > buf.length) throw new ZipError('zip central directory lies outside the file (truncated?)');
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL) throw new ZipError('corrupt zip central directory');
    const method = buf.readUInt16LE(p + 10);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extended information: the fields that overflowed, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = u64(buf, q);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(buf, q);
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = u64(buf, q);
      }
      e += 4 + len;
    }
    if (localOffset + 30 > buf.length || buf.readUInt32LE(localOffset) !== LOCAL)
      throw new ZipError(`corrupt zip entry ${name}`);
    const dataStart = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    if (dataStart + compressedSize > buf.length) throw new ZipError(`zip entry ${name} is truncated`);
    entries.set(name, { name, dataStart, compressedSize, size, method });
    p = extraEnd + commentLen;
  }
  return entries;
}

/** The bytes of one entry (a view into `buf` when STORED). */
export function readZipEntry(buf: Buffer, e: ZipEntry): Buffer {
  const raw = buf.subarray(e.dataStart, e.dataStart + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) {
    const out = inflateRawSync(raw);
    if (out.length !== e.size)
      throw new ZipError(`zip entry ${e.name}: inflated to ${out.length} bytes, expected ${e.size}`);
    return out;
  }
  throw new ZipError(`zip entry ${e.name}: unsupported compression method ${e.method}`);
}
