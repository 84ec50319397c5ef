/**
 * `npm run bench:parity`: do whole training runs learn as well on this project's engines as in
 * PyTorch? The shapes task (tools/make_shapes_dataset.ts, known true translations) is trained by
 * the onnxruntime engine, the tfjs engine and the PyTorch reference trainer (tools/parity_torch.py,
 * the official recipe), several seeds each, the same iterations; every generator is scored with the
 * same code (tools/shapesExperiment.ts scoreGenerator: PSNR/SSIM of G_A(testA), G_B(testB) against
 * the truth) at a few checkpoints. Printed: per system and direction the mean with its 95 % interval
 * (Student's t), the difference to PyTorch with Welch's interval, and a PNG of the learning curves.
 *
 *   npm run bench:parity -- [--seeds 8] [--first_seed 1] [--iters 1000] [--eval_every 200] [--size 24]
 *                           [--systems onnxruntime,tfjs,pytorch] [--tfjs_seeds N] [--work DIR]
 *
 * Runs go one after another on one thread each. A run's scores are kept in --work (default
 * bench-parity-work/) as it ends, so an interrupted study resumes where it stopped; the summary
 * goes to --out (JSON) and --plot (PNG).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { BACKENDS } from '../core/config/options';
import { writeFileAtomic } from '../core/io/atomicWrite';
import { fitGenerator } from '../core/pth/officialCheckpoint';
import { readPthFile } from '../core/pth/readPth';
import { initBackend } from '../core/tf/backend';
import { makeShapesDataset } from '../tools/make_shapes_dataset';
import { loadShapesPairs, scoreGenerator, type ShapesPair } from '../tools/shapesExperiment';
import { checkpointNet, checkpointPath, loadCheckpoint } from '../train/checkpoint';
import { openTrainData } from '../train/data/trainDataset';
import { generatorOptions } from '../train/model/cycleGan';
import { Trainer } from '../train/trainer';
import { parseTrainOptions } from '../train/trainOptions';
import { meanInterval, welchInterval } from './parityStats';

export const PARITY_SYSTEMS = ['onnxruntime', 'tfjs', 'pytorch'] as const;
export type ParitySystem = (typeof PARITY_SYSTEMS)[number];
const DIRECTIONS = ['AtoB', 'BtoA'] as const;
type Direction = (typeof DIRECTIONS)[number];
type Scores = Record<Direction, { psnr: number; ssim: number }>;

export interface ParityRun {
  system: ParitySystem;
  seed: number;
  seconds: number;
  points: { iter: number; scores: Scores }[];
}

const paritySchema = z
  .object({
    seeds: field.intRange(2, 1000).default(8).describe('seeds per system (1, 2, … from --first_seed)'),
    first_seed: field.int(0).default(1).describe('first training seed'),
    tfjs_seeds: field
      .intRange(1, 1000)
      .optional()
      .describe('seeds for the tfjs engine if fewer than --seeds (it is the slowest)'),
    iters: field
      .int(1)
      .default(1000)
      .describe('training iterations (a multiple of 2·--n: half at full rate, half decaying)'),
    eval_every: field.int(1).default(200).describe('score the generators every n iterations (a multiple of --n)'),
    size: field
      .intRange(24, 4096)
      .default(24)
      .describe(
        'training crop side: a multiple of 4, at least 24 (the smallest the basic PatchGAN takes); images are 4 px larger',
      ),
    n: field.int(1).default(100).describe('training images per domain (one epoch = n iterations)'),
    n_test: field.int(1).default(16).describe('held-out test images per domain'),
    netG: field.text().default('resnet_6blocks').describe('generator architecture'),
    ngf: field.int(1).default(8).describe('generator filters'),
    ndf: field.int(1).default(8).describe('discriminator filters (basic PatchGAN)'),
    systems: field
      .list(PARITY_SYSTEMS)
      .default([...PARITY_SYSTEMS])
      .describe('systems to train'),
    backend: field.enum(BACKENDS).default('wasm').describe('tfjs backend (the tfjs engine and scoring)'),
    python: field.text().default('/usr/bin/python3').describe('Python with torch (Debian python3-torch)'),
    work: field.text().default('bench-parity-work').describe('folder for datasets, checkpoints and finished runs'),
    out: field.text().default('bench/parity.json').describe('summary JSON'),
    plot: field.text().default('bench/parity.png').describe('learning-curve PNG'),
  })
  .strict();
type ParityOptions = z.infer<typeof paritySchema>;

export function epochsOf(o: Pick<ParityOptions, 'iters' | 'n' | 'eval_every' | 'size'>): {
  epochs: number;
  saveEvery: number;
} {
  // Test images are scored whole (size + 4), and the ResNet generators need sides divisible by 4.
  if (o.size % 4 !== 0) throw new Error(`--size ${o.size} must be a multiple of 4`);
  if (o.iters % (2 * o.n) !== 0) throw new Error(`--iters ${o.iters} must be a multiple of 2·--n (${2 * o.n})`);
  if (o.eval_every % o.n !== 0 || o.iters % o.eval_every !== 0) {
    throw new Error(`--eval_every ${o.eval_every} must be a multiple of --n ${o.n} and divide --iters ${o.iters}`);
  }
  return { epochs: o.iters / o.n, saveEvery: o.eval_every / o.n };
}

function trainOptions(o: ParityOptions, dataroot: string, system: 'onnxruntime' | 'tfjs', seed: number, dir: string) {
  const { epochs, saveEvery } = epochsOf(o);
  return parseTrainOptions({
    dataroot,
    name: 'run',
    checkpoints_dir: dir,
    netG: o.netG,
    ngf: o.ngf,
    ndf: o.ndf,
    load_size: o.size + 4,
    crop_size: o.size,
    n_epochs: epochs / 2,
    n_epochs_decay: epochs / 2,
    save_epoch_freq: saveEvery,
    print_freq: 1e9,
    display_freq: 1e9,
    save_latest_freq: 1e9,
    seed,
    engine: system,
    backend: o.backend,
    threads: system === 'onnxruntime' ? 1 : undefined,
    workers: 1,
    num_threads: 1,
  });
}

async function trainEngine(
  o: ParityOptions,
  dataroot: string,
  system: 'onnxruntime' | 'tfjs',
  seed: number,
  dir: string,
  test: Record<Direction, ShapesPair[]>,
): Promise<ParityRun> {
  const t = trainOptions(o, dataroot, system, seed, dir);
  const t0 = performance.now();
  await new Trainer(t, await openTrainData(t, () => undefined), { log: () => undefined }).run();
  const seconds = (performance.now() - t0) / 1000;
  const points = [];
  for (let it = o.eval_every; it <= o.iters; it += o.eval_every) {
    const ck = await loadCheckpoint(checkpointPath(dir, 'run', it / o.n));
    points.push({
      iter: it,
      scores: {
        AtoB: scoreGenerator(generatorOptions(t, 'AtoB'), checkpointNet(ck, 'G_A'), test.AtoB),
        BtoA: scoreGenerator(generatorOptions(t, 'BtoA'), checkpointNet(ck, 'G_B'), test.BtoA),
      },
    });
  }
  return { system, seed, seconds, points };
}

async function trainTorch(
  o: ParityOptions,
  dataroot: string,
  seed: number,
  dir: string,
  test: Record<Direction, ShapesPair[]>,
): Promise<ParityRun> {
  const { epochs, saveEvery } = epochsOf(o);
  const saves = Array.from({ length: epochs / saveEvery }, (_, i) => (i + 1) * saveEvery);
  const args = [
    path.join(__dirname, '..', 'tools', 'parity_torch.py'),
    ...['--dataroot', dataroot, '--out', dir, '--seed', String(seed), '--netG', o.netG],
    ...['--ngf', String(o.ngf), '--ndf', String(o.ndf), '--load_size', String(o.size + 4)],
    ...['--crop_size', String(o.size), '--n_epochs', String(epochs / 2), '--n_epochs_decay', String(epochs / 2)],
    ...['--save_epochs', saves.join(','), '--threads', '1'],
  ];
  const t0 = performance.now();
  const r = spawnSync(o.python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${o.python} tools/parity_torch.py failed (${why}); the pytorch system needs python3-torch`);
  }
  const seconds = (performance.now() - t0) / 1000;
  // Only the architecture fields matter for scoring; the engines' options supply them.
  const t = trainOptions(o, dataroot, 'onnxruntime', seed, dir);
  const points = [];
  for (const epoch of saves) {
    const gen = async (net: 'G_A' | 'G_B', d: Direction) => {
      const file = path.join(dir, `${epoch}_net_${net}.pth`);
      const { weights } = fitGenerator((await readPthFile(file)).tensors, generatorOptions(t, d), file);
      return scoreGenerator(generatorOptions(t, d), weights, test[d]);
    };
    points.push({ iter: epoch * o.n, scores: { AtoB: await gen('G_A', 'AtoB'), BtoA: await gen('G_B', 'BtoA') } });
  }
  return { system: 'pytorch', seed, seconds, points };
}

export interface ParityRow {
  system: ParitySystem;
  direction: Direction;
  seeds: number;
  psnr: { mean: number; half: number; sd: number };
  ssim: { mean: number; half: number; sd: number };
  /** This system minus PyTorch (Welch), absent for PyTorch itself or without it. */
  vsTorch?: { psnr: { diff: number; half: number }; ssim: { diff: number; half: number } };
  secondsPerIter: number;
}

/** The summary table at the last checkpoint. */
export function parityTable(runs: ParityRun[]): ParityRow[] {
  const final = (r: ParityRun) => r.points[r.points.length - 1].scores;
  const of = (s: ParitySystem) => runs.filter((r) => r.system === s);
  const torch = of('pytorch');
  const rows: ParityRow[] = [];
  for (const system of PARITY_SYSTEMS) {
    const rs = of(system);
    if (rs.length < 2) continue;
    const iters = rs[0].points[rs[0].points.length - 1].iter;
    for (const d of DIRECTIONS) {
      const p = rs.map((r) => final(r)[d].psnr);
      const s = rs.map((r) => final(r)[d].ssim);
      const [mp, ms] = [meanInterval(p), meanInterval(s)];
      const row: ParityRow = {
        system,
        direction: d,
        seeds: rs.length,
        psnr: { mean: mp.mean, half: mp.half, sd: mp.sd },
        ssim: { mean: ms.mean, half: ms.half, sd: ms.sd },
        secondsPerIter: rs.reduce((a, r) => a + r.seconds, 0) / rs.length / iters,
      };
      if (system !== 'pytorch' && torch.length >= 2) {
        const wp = welchInterval(
          p,
          torch.map((r) => final(r)[d].psnr),
        );
        const ws = welchInterval(
          s,
          torch.map((r) => final(r)[d].ssim),
        );
        row.vsTorch = { psnr: { diff: wp.diff, half: wp.half }, ssim: { diff: ws.diff, half: ws.half } };
      }
      rows.push(row);
    }
  }
  return rows;
}

export function tableMarkdown(rows: ParityRow[]): string {
  const f = (x: number, d: number) => x.toFixed(d);
  const sign = (x: number, d: number) => (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(d);
  const lines = [
    '| system | direction | seeds | PSNR dB (95 % CI) | SSIM (95 % CI) | Δ PSNR vs PyTorch (95 % CI) | Δ SSIM vs PyTorch | s/iter |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const v = r.vsTorch;
    lines.push(
      `| ${r.system} | ${r.direction} | ${r.seeds} | ${f(r.psnr.mean, 2)} ± ${f(r.psnr.half, 2)} | ` +
        `${f(r.ssim.mean, 4)} ± ${f(r.ssim.half, 4)} | ` +
        `${v ? `${sign(v.psnr.diff, 2)} ± ${f(v.psnr.half, 2)}` : '—'} | ` +
        `${v ? `${sign(v.ssim.diff, 4)} ± ${f(v.ssim.half, 4)}` : '—'} | ${f(r.secondsPerIter, 4)} |`,
    );
  }
  return lines.join('\n');
}

const COLOURS: Record<ParitySystem, string> = { onnxruntime: '#1f77b4', tfjs: '#d62728', pytorch: '#2ca02c' };

/** Mean PSNR per checkpoint with 95 % intervals, one panel per direction, as an SVG document. */
export function learningCurveSvg(runs: ParityRun[], title: string): string {
  const W = 900;
  const H = 420;
  const panel = { w: 380, h: 300, top: 60, left: [70, 510] };
  const systems = PARITY_SYSTEMS.filter((s) => runs.some((r) => r.system === s));
  const iters = [...new Set(runs.flatMap((r) => r.points.map((p) => p.iter)))].sort((a, b) => a - b);
  const curve = (s: ParitySystem, d: Direction) =>
    iters.map((it) => {
      const xs = runs
        .filter((r) => r.system === s)
        .map((r) => r.points.find((p) => p.iter === it)?.scores[d].psnr)
        .filter((x): x is number => x !== undefined);
      return { it, ...(xs.length >= 2 ? meanInterval(xs) : { mean: xs[0], half: 0 }) };
    });
  const all = systems.flatMap((s) =>
    DIRECTIONS.flatMap((d) => curve(s, d).flatMap((c) => [c.mean - c.half, c.mean + c.half])),
  );
  const yLo = Math.floor(Math.min(...all));
  const yHi = Math.ceil(Math.max(...all));
  const xMax = iters[iters.length - 1];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>`,
  ];
  DIRECTIONS.forEach((d, k) => {
    const x0 = panel.left[k];
    const X = (it: number) => x0 + (it / xMax) * panel.w;
    const Y = (v: number) => panel.top + panel.h - ((v - yLo) / (yHi - yLo)) * panel.h;
    out.push(`<rect x="${x0}" y="${panel.top}" width="${panel.w}" height="${panel.h}" fill="none" stroke="#444"/>`);
    out.push(
      `<text x="${x0 + panel.w / 2}" y="${panel.top - 8}" text-anchor="middle">${d} (G_${d === 'AtoB' ? 'A' : 'B'})</text>`,
    );
    const step = Math.max(1, Math.ceil((yHi - yLo) / 8));
    for (let v = yLo; v <= yHi; v += step) {
      out.push(`<line x1="${x0}" x2="${x0 + panel.w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/>`);
      out.push(`<text x="${x0 - 6}" y="${Y(v) + 4}" text-anchor="end">${v}</text>`);
    }
    for (const it of iters)
      out.push(`<text x="${X(it)}" y="${panel.top + panel.h + 16}" text-anchor="middle">${it}</text>`);
    out.push(`<text x="${x0 + panel.w / 2}" y="${panel.top + panel.h + 34}" text-anchor="middle">iteration</text>`);
    if (k === 0) {
      out.push(
        `<text transform="translate(22 ${panel.top + panel.h / 2}) rotate(-90)" text-anchor="middle">PSNR vs. truth (dB)</text>`,
      );
    }
    systems.forEach((s, j) => {
      const c = curve(s, d);
      const dx = (j - (systems.length - 1) / 2) * 4; // side by side, so the bars stay readable
      out.push(
        `<polyline fill="none" stroke="${COLOURS[s]}" stroke-width="2" points="${c.map((p) => `${X(p.it) + dx},${Y(p.mean)}`).join(' ')}"/>`,
      );
      for (const p of c) {
        out.push(
          `<line x1="${X(p.it) + dx}" x2="${X(p.it) + dx}" y1="${Y(p.mean - p.half)}" y2="${Y(p.mean + p.half)}" stroke="${COLOURS[s]}"/>`,
        );
        out.push(`<circle cx="${X(p.it) + dx}" cy="${Y(p.mean)}" r="3" fill="${COLOURS[s]}"/>`);
      }
    });
  });
  systems.forEach((s, j) => {
    const n = runs.filter((r) => r.system === s).length;
    const x = 90 + j * 280;
    out.push(`<line x1="${x}" x2="${x + 24}" y1="${H - 16}" y2="${H - 16}" stroke="${COLOURS[s]}" stroke-width="3"/>`);
    out.push(`<text x="${x + 30}" y="${H - 12}">${s} (${n} seed${n === 1 ? '' : 's'})</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function runFile(work: string, system: ParitySystem, seed: number, o: ParityOptions): string {
  return path.join(work, 'runs', `${system}-${o.size}px-${o.netG}-ngf${o.ngf}-${o.iters}it-seed${seed}.json`);
}

export async function benchParity(o: ParityOptions, log: (m: string) => void) {
  epochsOf(o);
  await initBackend(o.backend);
  const work = path.resolve(o.work);
  mkdirSync(path.join(work, 'runs'), { recursive: true });
  const dataroot = path.join(work, `shapes-${o.size + 4}-n${o.n}`);
  if (!existsSync(dataroot)) {
    await makeShapesDataset({ out: dataroot, size: o.size + 4, n: o.n, n_test: o.n_test, seed: 1, force: false });
  }
  const test = { AtoB: await loadShapesPairs(dataroot, 'testA'), BtoA: await loadShapesPairs(dataroot, 'testB') };
  const runs: ParityRun[] = [];
  // Interleaved by seed, so a study stopped early still has every system at the same seeds.
  for (let k = 0; k < o.seeds; k++) {
    const seed = o.first_seed + k;
    for (const system of o.systems) {
      if (system === 'tfjs' && o.tfjs_seeds !== undefined && k >= o.tfjs_seeds) continue;
      const file = runFile(work, system, seed, o);
      let run: ParityRun;
      if (existsSync(file)) {
        run = JSON.parse(readFileSync(file, 'utf8')) as ParityRun;
      } else {
        const dir = path.join(work, 'ck', `${system}-${seed}`);
        run =
          system === 'pytorch'
            ? await trainTorch(o, dataroot, seed, dir, test)
            : await trainEngine(o, dataroot, system, seed, dir, test);
        await writeFileAtomic(file, JSON.stringify(run) + '\n');
      }
      const last = run.points[run.points.length - 1].scores;
      log(
        `${system} seed ${seed}: ${run.seconds.toFixed(0)} s, PSNR AtoB ${last.AtoB.psnr.toFixed(2)} ` +
          `BtoA ${last.BtoA.psnr.toFixed(2)} dB`,
      );
      runs.push(run);
    }
  }
  const rows = parityTable(runs);
  const task =
    `shapes ${o.size + 4}² (crops ${o.size}², ${o.n} images per domain, ${o.n_test} held-out pairs), ` +
    `${o.netG} ngf ${o.ngf}, basic D ndf ${o.ndf}, ${o.iters} iterations (linear decay over the second half)`;
  const svg = learningCurveSvg(
    runs,
    `Shapes ${o.size}² crops, ${o.netG} ngf ${o.ngf}, ${o.iters} iterations: mean PSNR ± 95 % CI`,
  );
  await writeFile(o.plot, await sharp(Buffer.from(svg)).png().toBuffer());
  const summary = { task, options: o, rows, runs };
  await writeFileAtomic(o.out, JSON.stringify(summary, null, 1) + '\n');
  return { task, rows, table: tableMarkdown(rows) };
}

if (require.main === module) {
  runCommand(
    {
      name: 'bench:parity',
      program: 'npm run bench:parity --',
      summary:
        'Trains the shapes task on onnxruntime, tfjs and PyTorch over several seeds and compares PSNR/SSIM vs. the truth with 95 % intervals.',
      schema: paritySchema,
      exit: 'immediately',
    },
    async (o) => {
      const r = await benchParity(o, (m) => process.stderr.write(`${m}\n`));
      console.log(`${r.task}\n\n${r.table}`);
    },
  );
}
