/** Sharding a bulk run: which files each process of `npm run translate --shard_index i --shard_count n` takes. */
import { selectShard, shardOf } from '../../translate/shard';

describe('sharding', () => {
  const files = Array.from({ length: 1000 }, (_, i) => `set${i % 7}/img_${String(i).padStart(4, '0')}.jpg`);

  it('splits into disjoint shards whose union is every file, each share about 1/n', () => {
    for (const n of [1, 2, 3, 8]) {
      const shards = Array.from({ length: n }, (_, i) => selectShard(files, { index: i, count: n }));
      const all = shards.flat();
      expect(all.length).toBe(files.length);
      expect(new Set(all)).toEqual(new Set(files));
      for (const s of shards) expect(Math.abs(s.length - files.length / n)).toBeLessThan((files.length / n) * 0.25);
    }
  });

  it('depends only on the path: same shard in any order and when other files are added', () => {
    const shuffled = [...files].reverse();
    const more = [...files, ...Array.from({ length: 300 }, (_, i) => `new/${i}.png`)];
    const a = selectShard(files, { index: 2, count: 5 });
    expect(new Set(selectShard(shuffled, { index: 2, count: 5 }))).toEqual(new Set(a));
    expect(selectShard(more, { index: 2, count: 5 }).filter((f) => !f.startsWith('new/'))).toEqual(a);
  });

  it('is sha256(path) mod n over the first 48 bits, the same on every machine', () => {
    // Reference values from Python: int.from_bytes(hashlib.sha256(p.encode()).digest()[:6], 'big') % n
    expect(shardOf('a/b.png', 7)).toBe(5);
    expect(shardOf('photos/2021/IMG_0001.jpg', 4)).toBe(0);
    expect(shardOf('x.png', 3)).toBe(1);
    expect(shardOf('ü/ß.png', 5)).toBe(0);
  });

  it('rejects an index outside the count', () => {
    expect(() => selectShard(files, { index: 3, count: 3 })).toThrow('shard index must be an integer from 0 to 2');
    expect(() => selectShard(files, { index: 0, count: 0 })).toThrow('shard count must be a positive integer');
  });
});
