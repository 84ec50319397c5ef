/**
 * A synthetic unpaired translation task whose true mapping is known, to prove the trainer learns.
 *
 * Each image is a few random circles, rectangles and triangles on a plain background, drawn without
 * anti-aliasing. Domain A paints them with palette P, domain B with palette Q, and colour i of P
 * corresponds to colour i of Q (background included). trainA and trainB hold different random
 * images (unpaired); testA_truth / testB_truth are the same scenes as testA / testB painted with the
 * other palette, i.e. the exact translations a perfect G_A / G_B would produce.
 *
 *   npx tsx tools/make_shapes_dataset.ts --out datasets/shapes --size 32 --n 200 --seed 1
 *
 * The folder is built next to --out and renamed into place at the end, so an interrupted run leaves
 * no half-written dataset.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { optionField } from '../core/config/options';
import { Rng } from '../core/rng';
import { runCommand } from '../core/cli/command';

type Rgb = [number, number, number];

/** Index 0 is the background. Colours differ in hue and brightness so no channel shuffle maps P onto Q. */
export const PALETTE_A: readonly Rgb[] = [
  [30, 30, 30],
  [220, 50, 50],
  [50, 200, 70],
  [60, 90, 230],
];
export const PALETTE_B: readonly Rgb[] = [
  [235, 230, 215],
  [40, 190, 200],
  [230, 150, 30],
  [150, 60, 180],
];

const shapesSchema = z
  .object({
    out: optionField.text().describe('output folder (must not exist, unless --force)'),
    size: optionField.int(1).default(32).describe('image side in pixels'),
    n: optionField.int(1).default(200).describe('training images per domain'),
    n_test: optionField.int(1).default(20).describe('test images per domain'),
    seed: optionField.int(0).default(1).describe('random seed'),
    force: optionField.boolean().default(false).describe('replace --out if it exists'),
  })
  .strict();

/** Per-pixel palette indices of one random scene. */
export function drawScene(size: number, rng: Rng): Uint8Array {
  const label = new Uint8Array(size * size);
  const shapes = 1 + rng.int(3);
  for (let s = 0; s < shapes; s++) {
    const colour = 1 + rng.int(PALETTE_A.length - 1);
    const kind = rng.int(3);
    const r = size * (0.12 + 0.18 * rng.next()); // half-extent
    const cx = r + rng.next() * (size - 2 * r);
    const cy = r + rng.next() * (size - 2 * r);
    let inside: (x: number, y: number) => boolean;
    if (kind === 0) {
      inside = (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
    } else if (kind === 1) {
      const hw = r * (0.5 + 0.5 * rng.next());
      const hh = r * (0.5 + 0.5 * rng.next());
      inside = (x, y) => Math.abs(x - cx) <= hw && Math.abs(y - cy) <= hh;
    } else {
      // Three vertices on the circle of radius r, at random rotation.
      const a0 = rng.next() * 2 * Math.PI;
      const v = [0, 1, 2].map((k) => [
        cx + r * Math.cos(a0 + (k * 2 * Math.PI) / 3),
        cy + r * Math.sin(a0 + (k * 2 * Math.PI) / 3),
      ]);
      const edge = (p: number[], q: number[], x: number, y: number) =>
        (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0]);
      inside = (x, y) => {
        const e0 = edge(v[0], v[1], x, y);
        const e1 = edge(v[1], v[2], x, y);
        const e2 = edge(v[2], v[0], x, y);
        return (e0 >= 0 && e1 >= 0 && e2 >= 0) || (e0 <= 0 && e1 <= 0 && e2 <= 0);
      };
    }
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) if (inside(x + 0.5, y + 0.5)) label[y * size + x] = colour;
    }
  }
  return label;
}

export function paint(label: Uint8Array, palette: readonly Rgb[]): Uint8Array {
  const out = new Uint8Array(label.length * 3);
  for (let i = 0; i < label.length; i++) out.set(palette[label[i]], i * 3);
  return out;
}

async function writePng(file: string, rgb: Uint8Array, size: number): Promise<void> {
  await sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(file);
}

// Rng streams, so the four image sets are independent of each other and of --n.
const STREAM = { trainA: 1, trainB: 2, testA: 3, testB: 4 } as const;

export async function makeShapesDataset(o: {
  out: string;
  size: number;
  n: number;
  n_test: number;
  seed: number;
  force: boolean;
}) {
  const out = path.resolve(o.out);
  const exists = await fs.stat(out).catch(() => null);
  if (exists && !o.force) throw new Error(`--out '${o.out}' already exists (use --force to replace it)`);
  const tmp = `${out}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  const sets: [keyof typeof STREAM, number, readonly Rgb[], { dir: string; palette: readonly Rgb[] } | null][] = [
    ['trainA', o.n, PALETTE_A, null],
    ['trainB', o.n, PALETTE_B, null],
    ['testA', o.n_test, PALETTE_A, { dir: 'testA_truth', palette: PALETTE_B }],
    ['testB', o.n_test, PALETTE_B, { dir: 'testB_truth', palette: PALETTE_A }],
  ];
  try {
    for (const [dir, count, palette, truth] of sets) {
      await fs.mkdir(path.join(tmp, dir), { recursive: true });
      if (truth) await fs.mkdir(path.join(tmp, truth.dir), { recursive: true });
      for (let i = 0; i < count; i++) {
        const label = drawScene(o.size, Rng.derive(o.seed, STREAM[dir], i));
        const name = `${String(i).padStart(5, '0')}.png`;
        await writePng(path.join(tmp, dir, name), paint(label, palette), o.size);
        if (truth) await writePng(path.join(tmp, truth.dir, name), paint(label, truth.palette), o.size);
      }
    }
    const info = {
      task: 'shapes: palette A -> palette B, colour i maps to colour i (index 0 is the background)',
      size: o.size,
      seed: o.seed,
      counts: { train: o.n, test: o.n_test },
      paletteA: PALETTE_A,
      paletteB: PALETTE_B,
    };
    await fs.writeFile(path.join(tmp, 'palette.json'), JSON.stringify(info, null, 2) + '\n');
    if (exists) await fs.rm(out, { recursive: true, force: true });
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.rename(tmp, out);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return out;
}

if (require.main === module) {
  runCommand(
    {
      name: 'make_shapes_dataset',
      program: 'npx tsx tools/make_shapes_dataset.ts',
      summary: 'Write a synthetic unpaired shapes dataset with known ground-truth translations.',
      schema: shapesSchema,
    },
    async (opts) => {
      process.stdout.write(`wrote ${await makeShapesDataset(opts)}\n`);
    },
  );
}
