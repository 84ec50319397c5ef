/**
 * Splitting one run over n processes (e.g. the pods of a Kubernetes Indexed Job): a file belongs
 * to shard `hash(relative path) mod n`. The hash depends on the path alone, so the split is the
 * same on every machine and in every listing order, and adding files to the tree later does not
 * move the others to another shard (a retried shard finds its earlier outputs).
 */
import { createHash } from 'node:crypto';

export interface Shard {
  index: number;
  count: number;
}

/** Environment variables a shard is read from when the flags are absent. */
export const SHARD_INDEX_ENV = 'JOB_COMPLETION_INDEX';
export const SHARD_COUNT_ENV = 'SHARD_COUNT';

/** Shard of a relative input path (POSIX separators, as listInputs gives them). */
export function shardOf(relPath: string, count: number): number {
  if (count === 1) return 0;
  const h = createHash('sha256').update(relPath, 'utf8').digest();
  // 48 bits keep the modulo unbiased to far below any count that makes sense.
  return h.readUIntBE(0, 6) % count;
}

/** Throws a RangeError saying what is wrong with `shard`. */
export function checkShard(shard: Shard): void {
  if (!Number.isInteger(shard.count) || shard.count < 1)
    throw new RangeError(`shard count must be a positive integer, got ${shard.count}`);
  if (!Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count)
    throw new RangeError(`shard index must be an integer from 0 to ${shard.count - 1}, got ${shard.index}`);
}

export function selectShard<T extends string>(relPaths: readonly T[], shard: Shard): T[] {
  checkShard(shard);
  return relPaths.filter((p) => shardOf(p, shard.count) === shard.index);
}
