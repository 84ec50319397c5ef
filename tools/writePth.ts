/**
 * A minimal `torch.save` writer for float32 state dicts, in both formats core/pth/readPth.ts reads:
 * zip (STORED entries, as PyTorch ≥ 1.6 writes them; `littleEndian: false` writes big-endian
 * storages and `byteorder` = big, as PyTorch ≥ 2.0 on a big-endian machine does) and legacy
 * (`littleEndian: false` records a big-endian saving machine in the sys info; the storages stay
 * little-endian, as PyTorch's legacy writer converts them). For synthetic checkpoints in tests and in
 * `npm run bench` (a full-size generator without committing a 45 MB file); not used at run time.
 * `pickleOverride` replaces the pickled object, to craft malicious or malformed files.
 */
import { crc32 } from 'node:zlib';
import type { NamedTensor } from '../core/arch/stateDict';

/** Protocol-2 pickle opcodes, written by hand. */
class Pickler {
  private parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  raw(...bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(Buffer.from([0x58]), len, b);
    return this;
  }
  int(n: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(n, 1);
    this.parts.push(b);
    return this;
  }
  global(module: string, name: string): this {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
    return this;
  }
  mark = () => this.raw(0x28);
  tuple = () => this.raw(0x74);
  ints(v: number[]): this {
    this.mark();
    v.forEach((x) => this.int(x));
    return this.tuple();
  }
  done(): Buffer {
    return Buffer.concat([...this.parts, Buffer.from([0x2e])]);
  }
}

function stateDictPickle(sd: Map<string, NamedTensor>, legacy: boolean): Buffer {
  const p = new Pickler().global('collections', 'OrderedDict').raw(0x29, 0x52).mark();
  let i = 0;
  for (const [key, t] of sd) {
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    p.str(key).global('torch._utils', '_rebuild_tensor_v2').mark();
    // persistent id: ('storage', FloatStorage, key, 'cpu', numel[, view_metadata=None])
    p.mark().str('storage').global('torch', 'FloatStorage').str(String(i++)).str('cpu').int(t.data.length);
    if (legacy) p.raw(0x4e);
    p.tuple().raw(0x51);
    p.int(0).ints(t.shape).ints(strides).raw(0x89).global('collections', 'OrderedDict').raw(0x29, 0x52);
    p.tuple().raw(0x52);
  }
  return p.raw(0x75).done();
}

function floatBytes(data: Float32Array, littleEndian: boolean): Buffer {
  const b = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) {
    if (littleEndian) b.writeFloatLE(data[i], i * 4);
    else b.writeFloatBE(data[i], i * 4);
  }
  return b;
}

/**
 * A zip archive of STORED entries. `zip64`: sizes and offsets in zip64 extra fields and a zip64
 * end record, as writers do for archives over 4 GB (here forced, to test the reader on small files).
 */
export function zipStored(entries: [string, Buffer][], zip64 = false): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(n.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(zip64 ? 45 : 20, 4);
    c.writeUInt16LE(zip64 ? 45 : 20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(zip64 ? 0xffffffff : data.length, 20);
    c.writeUInt32LE(zip64 ? 0xffffffff : data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    const extra = Buffer.alloc(zip64 ? 28 : 0);
    if (zip64) {
      // id 1, 24 bytes: size, compressed size, local header offset
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
      c.writeUInt16LE(extra.length, 30);
    }
    locals.push(h, n, data);
    central.push(c, n, extra);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 8);
  end.writeUInt16LE(zip64 ? 0xffff : entries.length, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : cd.length, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  if (!zip64) return Buffer.concat([...locals, cd, end]);
  const end64 = Buffer.alloc(56);
  end64.writeUInt32LE(0x06064b50, 0);
  end64.writeBigUInt64LE(44n, 4);
  end64.writeUInt16LE(45, 12);
  end64.writeUInt16LE(45, 14);
  end64.writeBigUInt64LE(BigInt(entries.length), 24);
  end64.writeBigUInt64LE(BigInt(entries.length), 32);
  end64.writeBigUInt64LE(BigInt(cd.length), 40);
  end64.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([...locals, cd, end64, locator, end]);
}

export interface WritePthOptions {
  format: 'zip' | 'legacy';
  /** Byte order of the saving machine (default little). */
  littleEndian?: boolean;
  pickleOverride?: Buffer;
  /** Zip format only: zip64 records (see zipStored). */
  zip64?: boolean;
}

export function encodePth(sd: Map<string, NamedTensor>, o: WritePthOptions): Buffer {
  const le = o.littleEndian ?? true;
  const keys = [...sd.keys()].map((_, i) => String(i));
  const datas = [...sd.values()].map((t) => floatBytes(t.data, o.format === 'legacy' || le));
  if (o.format === 'zip') {
    const pkl = o.pickleOverride ?? stateDictPickle(sd, false);
    return zipStored(
      [
        ['archive/data.pkl', pkl],
        ['archive/byteorder', Buffer.from(le ? 'little' : 'big')],
        ...keys.map((k, i): [string, Buffer] => [`archive/data/${k}`, datas[i]]),
        ['archive/version', Buffer.from('3\n')],
      ],
      o.zip64,
    );
  }
  // magic number (LONG1, 10 bytes), protocol 1001, sys info, object, storage keys, storages
  const magic = new Pickler()
    .raw(0x8a, 10, ...Buffer.from('6c fc 9c 46 f9 20 6a a8 50 19'.replace(/ /g, ''), 'hex'))
    .done();
  const proto = new Pickler().raw(0x4d, 0xe9, 0x03).done();
  const sys = new Pickler()
    .raw(0x7d)
    .mark()
    .str('protocol_version')
    .int(1001)
    .str('little_endian')
    .raw(le ? 0x88 : 0x89)
    .str('type_sizes')
    .raw(0x7d)
    .mark()
    .str('short')
    .int(2)
    .str('int')
    .int(4)
    .str('long')
    .int(4)
    .raw(0x75, 0x75)
    .done();
  const obj = o.pickleOverride ?? stateDictPickle(sd, true);
  const keyList = new Pickler().raw(0x5d).mark();
  keys.forEach((k) => keyList.str(k));
  const parts = [magic, proto, sys, obj, keyList.raw(0x65).done()];
  datas.forEach((d) => {
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(BigInt(d.length / 4));
    parts.push(n, d);
  });
  return Buffer.concat(parts);
}

/** A pickle that calls `module.name(arg)` when Python loads it, stored under a state-dict key. */
export function maliciousPickle(module: string, name: string, arg: string): Buffer {
  return new Pickler().raw(0x7d).str('model.1.weight').global(module, name).str(arg).raw(0x85, 0x52, 0x73).done();
}
