/**
 * `node --import tsx tools/make_tiling_figure.ts [--out docs/tiling-seams.png]`: the README's
 * before/after crop of a tile border. The bundled twemoji2noto AtoB generator translates a
 * 1024×768 photo-like image in 384 px tiles twice: left, each tile normalised by its own
 * statistics (what tiling by hand does: cut hard at the core borders); right, statistics shared
 * across tiles (inference/tiling, downscaled to 512 px). The crop is centred on a tile corner.
 */
import * as path from 'node:path';
import { createSession } from '../core/onnx/ortRuntime';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import type { RawImage } from '../core/image/rawImage';
import { resizeBicubic } from '../core/image/resample';
import { readManifest } from '../core/modelManifest';
import { imageLikeSample, seededRandom } from '../export/verify';
import { toNchw } from '../inference/preprocess';
import { ortRunGraph, rawImageSink, rawImageSource } from '../inference/tiling/adapters';
import { translateTiled, type TiledOptions } from '../inference/tiling/tiledTranslate';

const ROOT = path.join(__dirname, '..');
const NORM = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

const schema = z
  .object({
    out: field.text().default(path.join('docs', 'tiling-seams.png')).describe('where the PNG goes'),
  })
  .strict();

async function main({ out }: z.output<typeof schema>): Promise<void> {
  const dir = path.join(ROOT, 'models', 'twemoji2noto');
  const man = await readManifest(dir);
  const tiling = man.directions.AtoB!.tiling!;
  const open = (f: string) => createSession(path.join(dir, f));
  const run = ortRunGraph({
    plain: await open('AtoB.onnx'),
    statistics: await open(tiling.statistics!.file),
    apply: await open(tiling.apply!.file),
  });
  const [w, h] = [1024, 768];
  const x = imageLikeSample(3, h, w, seededRandom(21));
  const img: RawImage = { data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 };
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < w * h; i++) img.data[i * 3 + c] = Math.round((x[c * w * h + i] * 0.5 + 0.5) * 255);
  const translate = async (o: Partial<TiledOptions>) => {
    const res: RawImage = { data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 };
    const r = await translateTiled(rawImageSource(img, NORM), rawImageSink(res, NORM), run, {
      tiling,
      outputChannels: 3,
      tileSide: 384,
      ...o,
    });
    return { res, seams: r.seams };
  };
  const naive = await translate({ tiling: { ...tiling, norm: 'none' }, feather: 0 });
  const shared = await translate({ statsInput: toNchw(resizeBicubic(img, 512, 384), NORM) });
  const side = 160;
  const [cx, cy] = [naive.seams.x[1], naive.seams.y[1]];
  const crop = (r: RawImage) =>
    sharp(r.data, { raw: { width: w, height: h, channels: 3 } })
      .extract({ left: cx - side / 2, top: cy - side / 2, width: side, height: side })
      .resize(2 * side, 2 * side, { kernel: 'nearest' })
      .png()
      .toBuffer();
  const gap = 8;
  await sharp({ create: { width: 4 * side + gap, height: 2 * side, channels: 3, background: '#ffffff' } })
    .composite([
      { input: await crop(naive.res), left: 0, top: 0 },
      { input: await crop(shared.res), left: 2 * side + gap, top: 0 },
    ])
    .png({ compressionLevel: 9, palette: true })
    .toFile(out);
  console.log(`wrote ${out}: tile corner at (${cx}, ${cy}); left per-tile statistics, right shared statistics`);
}

runCommand(
  {
    name: 'make_tiling_figure',
    program: 'node --import tsx tools/make_tiling_figure.ts',
    summary: "The README's before/after crop of a tile border (per-tile vs shared instance-norm statistics).",
    schema,
    placeholders: { out: '<file>' },
  },
  main,
);
