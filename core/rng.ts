/**
 * A small seedable PRNG (xoshiro128**) whose whole state is four 32-bit words, so a checkpoint can
 * store it and a resumed run draws exactly the numbers the uninterrupted run would have drawn.
 *
 * `Rng.derive(seed, ...key)` gives an independent stream for a key such as (purpose, epoch, index):
 * the data pipeline uses it so that what an item looks like depends only on where it sits, never on
 * how many numbers were drawn before it or in which order asynchronous decodes finished.
 */

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finaliser: a full-avalanche bijection on uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Splits a safe integer into its low and high 32-bit words (two's complement for negatives). */
function words(n: number, what: string): [number, number] {
  if (!Number.isSafeInteger(n)) throw new Error(`${what} must be a safe integer (got ${n})`);
  const lo = n >>> 0;
  const hi = Math.floor(n / TWO_POW_32) >>> 0;
  return [lo, hi];
}

/** Mixes a list of 32-bit words into four state words (never all zero). */
function absorb(input: number[]): [number, number, number, number] {
  const lanes = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
  for (const w of input) {
    for (let i = 0; i < 4; i++) lanes[i] = fmix32((lanes[i] ^ Math.imul(w + i * 0x9e3779b9, 0xcc9e2d51)) >>> 0);
    // Chain the lanes so each word influences all of them.
    const t = lanes[0];
    lanes[0] = lanes[1];
    lanes[1] = lanes[2];
    lanes[2] = lanes[3];
    lanes[3] = fmix32((lanes[3] + t) >>> 0);
  }
  if ((lanes[0] | lanes[1] | lanes[2] | lanes[3]) === 0) lanes[0] = 1;
  return [lanes[0], lanes[1], lanes[2], lanes[3]];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed`: any safe integer. Equal seeds give equal streams. */
  constructor(seed: number) {
    [this.s0, this.s1, this.s2, this.s3] = absorb(words(seed, 'seed'));
  }

  /** An independent stream for `(seed, ...key)`; key parts are safe integers. */
  static derive(seed: number, ...key: number[]): Rng {
    const input: number[] = [...words(seed, 'seed'), key.length];
    for (const k of key) input.push(...words(k, 'rng key'));
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = absorb(input);
    return r;
  }

  /** Rebuilds a generator from `state()`. */
  static fromState(state: readonly number[]): Rng {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)
    ) {
      throw new Error(`rng state must be four uint32 words (got ${JSON.stringify(state)})`);
    }
    if (state.every((w) => w === 0)) throw new Error('rng state must not be all zero');
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state;
    return r;
  }

  /** The complete state: four uint32 words. */
  state(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Next raw 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); 1 <= n <= 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32)
      throw new Error(`Rng.int: n must be an integer in [1, 2^32] (got ${n})`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** Standard normal sample (Box-Muller; no cached spare, so the state stays four words). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/** A fresh seed for runs started without `--seed` (recorded in the checkpoint so resume stays exact). */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
