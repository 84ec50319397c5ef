/**
 * A safe, minimal unpickler for PyTorch state dicts. It interprets only the opcodes that
 * `torch.save` emits for dicts of tensors (protocols 2-5) and resolves only an allow-list of
 * globals: `collections.OrderedDict`, the tensor-rebuilding functions and the storage classes.
 * Any other global (`os.system`, `builtins.eval`, …) is refused when the pickle names it, so
 * nothing a file says is ever executed: REDUCE can only call the handful of builders below.
 */

export class UnpickleError extends Error {}

/** Element types of torch storages, by the legacy class name torch.save records. */
export const STORAGE_DTYPES = {
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  FloatStorage: { dtype: 'float32', bytes: 4 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
} as const;

export type StorageClass = keyof typeof STORAGE_DTYPES;
export type DType = (typeof STORAGE_DTYPES)[StorageClass]['dtype'];

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** dict and collections.OrderedDict; keys in insertion order. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
}

/** An allow-listed global, e.g. `torch.FloatStorage`. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a persistent id resolved to: a storage, by key, filled in by the file-format reader. */
export interface StorageRef {
  key: string;
  storageClass: StorageClass;
  /** Element offset into the root storage (legacy views), usually 0. */
  viewOffset: number;
}

export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

const ALLOWED = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((c) => `torch.${c}`),
  // Legacy files saved from the GPU name CUDA storages; the bytes on disk are the same.
  ...Object.keys(STORAGE_DTYPES).map((c) => `torch.cuda.${c}`),
]);

const MARK = Symbol('mark');

/** Reads one pickle from `buf` at `pos`; `end` is where the STOP opcode left the cursor. */
export function unpickle(
  buf: Buffer,
  pos: number,
  persistentLoad: (pid: unknown) => unknown,
): { value: unknown; end: number } {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = pos;
  const need = (n: number) => {
    if (p + n > buf.length) throw new UnpickleError('pickle data is truncated');
  };
  const u8 = () => (need(1), buf[p++]);
  const take = (n: number) => {
    need(n);
    const b = buf.subarray(p, p + n);
    p += n;
    return b;
  };
  const popMark = (): unknown[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] === MARK) {
        const items = stack.slice(i + 1);
        stack.length = i;
        return items;
      }
    }
    throw new UnpickleError('pickle MARK missing');
  };
  const pop = () => {
    if (stack.length === 0) throw new UnpickleError('pickle stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw new UnpickleError('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const line = () => {
    const nl = buf.indexOf(0x0a, p);
    if (nl < 0) throw new UnpickleError('pickle data is truncated');
    const s = buf.toString('latin1', p, nl);
    p = nl + 1;
    return s;
  };
  const global = (module: string, name: string) => {
    const q = `${module}.${name}`;
    if (!ALLOWED.has(q))
      throw new UnpickleError(
        `refusing to load global '${q}': a state dict may only reference tensors, storages and OrderedDict ` +
          '(this file may contain code)',
      );
    return new PyGlobal(module, name);
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof PyDict)) throw new UnpickleError('SETITEM on something that is not a dict');
    for (let i = 0; i + 1 < kv.length; i += 2) d.map.set(kv[i], kv[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) throw new UnpickleError('APPEND on something that is not a list');
    l.push(...items);
  };
  const long = (b: Buffer): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw new UnpickleError('malformed pickle (stack at STOP)');
        return { value: stack[0], end: p };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(take(2).readUInt16LE(0));
        break;
      case 0x4a: // BININT
        stack.push(take(4).readInt32LE(0));
        break;
      case 0x8a: // LONG1
        stack.push(long(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(take(take(4).readInt32LE(0))));
        break;
      case 0x49: {
        // INT (text): also how protocol 0 spells booleans
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number(s));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(take(8).readDoubleBE(0));
        break;
      case 0x58: // BINUNICODE
        stack.push(take(take(4).readUInt32LE(0)).toString('utf8'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(take(u8()).toString('utf8'));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(take(Number(take(8).readBigUInt64LE(0))).toString('utf8'));
        break;
      case 0x54: // BINSTRING
        stack.push(take(take(4).readInt32LE(0)).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(take(u8()).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(Buffer.from(take(take(4).readUInt32LE(0))));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Buffer.from(take(u8())));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(take(4).readUInt32LE(0), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? u8() : take(4).readUInt32LE(0);
        if (!memo.has(i)) throw new UnpickleError(`pickle memo ${i} missing`);
        stack.push(memo.get(i));
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new UnpickleError('malformed STACK_GLOBAL');
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: only OrderedDict state (state_dict()._metadata), which loading does not need
        pop();
        if (!(top() instanceof PyDict)) throw new UnpickleError('BUILD on an object that is not a dict');
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      case 0x50: // PERSID (text)
        stack.push(persistentLoad(line()));
        break;
      default:
        throw new UnpickleError(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at} (not a plain state dict)`,
        );
    }
  }
}

function ints(v: unknown, what: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items || !items.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0))
    throw new UnpickleError(`tensor ${what} is not a tuple of non-negative integers`);
  return items as number[];
}

function tensorRef(storage: unknown, offset: unknown, size: unknown, stride: unknown): TensorRef {
  if (!storage || typeof storage !== 'object' || !('storageClass' in storage))
    throw new UnpickleError('tensor without a storage');
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0)
    throw new UnpickleError('tensor storage offset is not a non-negative integer');
  const sz = ints(size, 'size');
  const st = ints(stride, 'stride');
  if (sz.length !== st.length) throw new UnpickleError('tensor size and stride differ in length');
  return { kind: 'tensor', storage: storage as StorageRef, offset, size: sz, stride: st };
}

/** REDUCE: the only callables are the allow-listed builders. */
function call(fn: unknown, args: unknown): unknown {
  if (!(fn instanceof PyGlobal) || !(args instanceof PyTuple)) throw new UnpickleError('malformed REDUCE');
  const a = args.items;
  switch (fn.qualified) {
    case 'collections.OrderedDict':
      return new PyDict();
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      if (a.length < 4) throw new UnpickleError(`${fn.qualified} with ${a.length} arguments`);
      return tensorRef(a[0], a[1], a[2], a[3]);
    case 'torch._utils._rebuild_parameter':
      if (!a[0] || (a[0] as TensorRef).kind !== 'tensor') throw new UnpickleError('parameter without a tensor');
      return a[0];
    default:
      throw new UnpickleError(`refusing to call '${fn.qualified}'`);
  }
}
