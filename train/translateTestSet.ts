/**
 * The official test.py for CycleGAN: translate testA (and testB) with a checkpoint's generators and
 * write `<results_dir>/<name>/test_<epoch>/images/<image>_{real_A,fake_B,rec_A,real_B,fake_A,rec_B}.png`
 * plus an index.html that opens from disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TestOptions } from './trainOptions';
import { Rng } from '../core/rng';
import { writeFileAtomic } from '../core/io/atomicWrite';
import { generatorSpec } from '../core/arch/spec';
import { TfNetwork } from './tfjs/networks';
import { checkpointNet, checkpointPath, loadCheckpoint } from './checkpoint';
import { generatorOptions, type ModelOptions } from './model/cycleGan';
import { listImages } from './data/imageFolder';
import { decodeRgb, UnusableImageError } from '../core/image/decode';
import { transformImage } from './data/transforms';
import { toRgb8 } from './report/sampleGrid';
import sharp from 'sharp';

export interface TestSetResult {
  dir: string;
  translated: number;
  skipped: { file: string; reason: string }[];
}

const VISUALS = ['real_A', 'fake_B', 'rec_A', 'real_B', 'fake_A', 'rec_B'] as const;

export async function translateTestSet(o: TestOptions, log: (m: string) => void): Promise<TestSetResult> {
  const file = checkpointPath(o.checkpoints_dir, o.name, o.epoch);
  const ck = await loadCheckpoint(file);
  const train = ck.meta.options as unknown as ModelOptions & { input_nc: 1 | 3; output_nc: 1 | 3 };
  // --direction BtoA swaps the roles of the test folders, as the official set_input does.
  const [dirA, dirB] = o.direction === 'AtoB' ? ['testA', 'testB'] : ['testB', 'testA'];
  const filesA = await listImages(path.join(o.dataroot, dirA), o.num_test);
  if (filesA.length === 0) throw new Error(`no images in ${path.join(o.dataroot, dirA)}`);
  const bDir = path.join(o.dataroot, dirB);
  const filesB = fs.existsSync(bDir) ? await listImages(bDir) : [];

  const G_A = new TfNetwork(generatorSpec(generatorOptions(train, 'AtoB')), 'G_A', checkpointNet(ck, 'G_A'));
  const G_B = new TfNetwork(generatorSpec(generatorOptions(train, 'BtoA')), 'G_B', checkpointNet(ck, 'G_B'));
  const outDir = path.join(o.results_dir, o.name, `test_${o.epoch}`);
  const imgDir = path.join(outDir, 'images');
  fs.mkdirSync(imgDir, { recursive: true });
  // Test-time transforms are deterministic (no flip); the Rng is only there for the crop position.
  const topts = { preprocess: o.preprocess, load_size: o.load_size, crop_size: o.crop_size, no_flip: true };
  const rows: { stem: string; files: string[] }[] = [];
  const skipped: TestSetResult['skipped'] = [];
  const load = async (f: string, nc: 1 | 3) => transformImage(await decodeRgb(f), topts, nc, new Rng(0), f);
  try {
    for (let i = 0; i < filesA.length; i++) {
      const fa = filesA[i];
      try {
        const a = await load(fa, train.input_nc);
        const b = filesB.length ? await load(filesB[i % filesB.length], train.output_nc) : null;
        const out: Partial<Record<(typeof VISUALS)[number], tf.Tensor4D>> = {};
        tf.tidy(() => {
          const realA = tf.tensor4d(a.data, [1, ...a.shape]);
          out.real_A = tf.keep(realA);
          out.fake_B = tf.keep(G_A.apply(realA, { training: false }));
          out.rec_A = tf.keep(G_B.apply(out.fake_B, { training: false }));
          if (b) {
            const realB = tf.tensor4d(b.data, [1, ...b.shape]);
            out.real_B = tf.keep(realB);
            out.fake_A = tf.keep(G_B.apply(realB, { training: false }));
            out.rec_B = tf.keep(G_A.apply(out.fake_A, { training: false }));
          }
        });
        const stem = path.basename(fa, path.extname(fa));
        const files: string[] = [];
        for (const v of VISUALS) {
          const t = out[v];
          if (!t) continue;
          const name = `${stem}_${v}.png`;
          await writeFileAtomic(path.join(imgDir, name), await encodePng(t));
          files.push(name);
          t.dispose();
        }
        rows.push({ stem, files });
      } catch (e) {
        if (!(e instanceof UnusableImageError)) throw e;
        skipped.push({ file: fa, reason: e.message });
        log(`warning: skipped ${e.message}`);
      }
      if ((i + 1) % 10 === 0) log(`processing (${i + 1})-th image… ${fa}`);
    }
  } finally {
    G_A.dispose();
    G_B.dispose();
  }
  await writeFileAtomic(path.join(outDir, 'index.html'), indexHtml(o, rows));
  return { dir: outDir, translated: rows.length, skipped };
}

async function encodePng(t: tf.Tensor4D): Promise<Buffer> {
  const [, h, w] = t.shape;
  const rgb = toRgb8({ data: (await t.data()) as Float32Array, shape: t.shape as [number, number, number, number] }, 0);
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}

function indexHtml(o: TestOptions, rows: { stem: string; files: string[] }[]): string {
  const esc = (s: string) =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const body = rows
    .map(
      (r) =>
        `<h3>${esc(r.stem)}</h3><table><tr>${r.files
          .map(
            (f) =>
              `<td><figure><img src="images/${encodeURIComponent(f)}" width="256"><figcaption>${esc(f.slice(r.stem.length + 1, -4))}</figcaption></figure></td>`,
          )
          .join('')}</tr></table>`,
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Experiment = ${esc(o.name)}, Phase = test, Epoch = ${esc(String(o.epoch))}</title>
<style>body{font-family:system-ui,sans-serif}img{image-rendering:pixelated}</style></head>
<body><h1>${esc(o.name)} — test, epoch ${esc(String(o.epoch))}</h1>\n${body}\n</body></html>\n`;
}
