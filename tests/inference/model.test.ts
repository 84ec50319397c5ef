/**
 * The memory bound of tiled execution: a 6000×4000 photo at size=original through
 * inference/model.ts (what the server and `npm run translate` run), measured in a child process
 * by bench/tiling.ts (RSS sampled during the request, VmHWM, RSS after). A tiny generator keeps
 * it quick; what is bounded here is everything but the network's weights. The same run untiled
 * peaks above 3.5 GB (the float input and output tensors and the full-size activations), so the
 * bound fails if tiling is bypassed. `npm run bench -- --only tiling` measures ResNet-9 ngf 64.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { noiseImage, writeTinyModel } from '../helpers/tinyModel';

const ROOT = path.join(__dirname, '..', '..');

test('6000×4000 at size=original: peak RSS < 1.5 GB, at most 700 MB over idle, back near idle after', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tiled-memory-'));
  try {
    await writeTinyModel(root, { name: 'tiny', directions: ['AtoB'], tiling: true });
    const image = path.join(root, 'big.jpg');
    await sharp(await noiseImage(600, 400, 'png', 3))
      .resize(6000, 4000)
      .jpeg({ quality: 90 })
      .toFile(image);
    const r = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        path.join(ROOT, 'bench', 'tiling.ts'),
        '--child_model',
        path.join(root, 'tiny'),
        '--child_image',
        image,
      ],
      // glibc hands large freed blocks back only above its mmap threshold; `npm start` pins it the same way.
      { encoding: 'utf8', env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' }, timeout: 600_000 },
    );
    expect(r.stderr).toBe('');
    const m = JSON.parse(r.stdout) as Record<string, number | string>;
    expect(m.output).toBe('6000x4000');
    expect(m.tiles).toBeGreaterThan(20);
    const [idle, peak, after] = [m.rss_idle_mb, m.rss_peak_mb, m.rss_after_mb] as number[];
    expect(peak).toBeLessThan(1500);
    expect(peak - idle).toBeLessThan(700);
    expect(after - idle).toBeLessThan(150);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}, 600_000);
