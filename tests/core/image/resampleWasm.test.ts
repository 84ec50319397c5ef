import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RawImage } from '../../../core/image/rawImage';
import { resizeBicubic, resizeBicubicScalar } from '../../../core/image/resample';
import { WASM_FILE, wasmAvailable } from '../../../core/image/resampleWasm';

/** Deterministic pseudo-random integers in [0, n). */
function lcg(seed: number): (n: number) => number {
  return (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    return (seed >>> 8) % n;
  };
}

/** Random pixels, half the images two-level (0/255) so the kernel's overshoot is clipped both ways. */
function image(rnd: (n: number) => number, width: number, height: number, channels: number): RawImage {
  const data = new Uint8Array(width * height * channels);
  const binary = rnd(2) === 0;
  for (let i = 0; i < data.length; i++) data[i] = binary ? rnd(2) * 255 : rnd(256);
  return { data, width, height, channels: channels as 1 | 3 };
}

function expectSame(img: RawImage, w: number, h: number): void {
  const simd = resizeBicubic(img, w, h);
  const scalar = resizeBicubicScalar(img, w, h);
  expect([simd.width, simd.height, simd.channels]).toEqual([w, h, img.channels]);
  const same = Buffer.from(simd.data).equals(Buffer.from(scalar.data));
  if (!same) throw new Error(`${img.width}x${img.height}x${img.channels} -> ${w}x${h}: wasm differs from scalar`);
}

describe('WebAssembly SIMD resampler', () => {
  it('runs here (Node 20 has wasm SIMD), so resizeBicubic takes the wasm path', () => {
    expect(wasmAvailable()).toBe(true);
  });

  it('equals the scalar passes bit for bit over random sizes, up and down, 1 to 4 channels', () => {
    const rnd = lcg(2024);
    for (let t = 0; t < 300; t++) {
      const big = t % 8 === 0;
      const w = 1 + rnd(big ? 600 : 40);
      const h = 1 + rnd(big ? 300 : 40);
      const c = 1 + rnd(4);
      const ow = 1 + rnd(big ? 300 : 80);
      const oh = 1 + rnd(big ? 300 : 80);
      expectSame(image(rnd, w, h, c), ow, oh);
    }
  });

  it('equals the scalar passes on 1-pixel edges, one-axis resizes and strong reductions', () => {
    const rnd = lcg(7);
    const cases: [number, number, number, number][] = [
      [1, 1, 1, 1],
      [1, 1, 9, 5],
      [7, 1, 1, 1],
      [1, 9, 1, 4],
      [13, 11, 1, 11],
      [13, 11, 13, 1],
      [640, 3, 5, 3],
      [3, 640, 3, 5],
      [1000, 17, 3, 2],
      [2, 2, 257, 255],
    ];
    for (const [w, h, ow, oh] of cases) for (const c of [1, 3, 4]) expectSame(image(rnd, w, h, c), ow, oh);
  });

  it('leaves the source untouched and returns a copy when the size does not change', () => {
    const img = image(lcg(3), 5, 4, 3);
    const before = img.data.slice();
    const out = resizeBicubic(img, 3, 7);
    expect(Buffer.from(img.data).equals(Buffer.from(before))).toBe(true);
    const same = resizeBicubic(img, 5, 4);
    expect(same.data).not.toBe(img.data);
    expect(Buffer.from(same.data).equals(Buffer.from(img.data))).toBe(true);
    expect(out.data.length).toBe(3 * 7 * 3);
  });

  // The committed binary is built with Debian's clang 14 (tools/build_resample_wasm.sh); other
  // clang versions emit different (equally valid) code, so the byte check needs that one.
  const clang = spawnSync('clang', ['--version'], { encoding: 'utf8' });
  const clang14 = clang.status === 0 && /clang version 14\./.test(clang.stdout);
  (clang14 ? it : it.skip)(
    `the committed resample.wasm is what tools/build_resample_wasm.sh builds from resample.c${
      clang14 ? '' : ' (skipped: clang 14 with the wasm32 target not found)'
    }`,
    () => {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'resample-wasm-')), 'resample.wasm');
      const script = path.join(__dirname, '..', '..', '..', 'tools', 'build_resample_wasm.sh');
      const r = spawnSync('bash', [script, out], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(fs.readFileSync(out).equals(fs.readFileSync(WASM_FILE))).toBe(true);
    },
  );
});
