/**
 * `npm run bench`: the training-side figures, as one JSON document on stdout (progress on stderr).
 *   networks  a full CycleGAN iteration per training engine (`--engine`) on 1 thread and on every
 *             core, at 64×64 (ngf 32, 6 blocks) and 128×128 (ngf 64, 9 blocks); for tfjs also
 *             forward / training-step ms and GFLOP/s of G and D, per tfjs backend
 *   pipeline  s/iter through the real trainer and data pipeline (decode, resize, crop, flip,
 *             prefetch) and the share of the step spent waiting for data
 *   learning  PSNR/SSIM over iterations on the synthetic shapes task vs. the identity baseline
 *   resample  the PIL-exact bicubic resampler beside sharp's cubic, 1000×700 and 4000×3000 → 256×256
 *             (bench/resample.ts)
 *   translate images/s of `npm run translate` over a folder of 256×256 images on CPU
 *             (bench/translate.ts, run as its own process so its onnxruntime threads start clean)
 *   tiling    tiled translation (bench/tiling.ts): PSNR and seam ratio against the untiled output
 *             for exact and downscaled statistics, s/MP, and peak/after RSS of a 6000×4000
 *             size=original translation with ResNet-9 ngf 64 (long on 2 cores)
 *   import    `npm run import` of a full-size resnet_9blocks .pth (11.4 M parameters), legacy and
 *             zip format: read time and the whole command's wall time (bench/import.ts)
 *   vs_torch  (--vs-torch only) PyTorch and this trainer's engine(s) timed back to back on the
 *             same configurations and threads, with the ratio (bench/vsTorch.ts); runs alone
 * A benchmark, not a test: run it on a quiet machine.
 *
 *   npm run bench -- [--engine onnxruntime|tfjs|both] [--backends wasm,cpu] [--reps 5] [--learn_iters 1000]
 *                    [--skip learning]
 *   npm run bench -- --vs-torch [--engine onnxruntime|tfjs|both] [--threads 1,2] [--workers 1,2] [--rounds 3] [--reps 3]
 *                    [--sizes 64,128] [--python /usr/bin/python3]
 *   (every flag also takes its underscore spelling: --vs_torch)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { BACKENDS } from '../core/config/options';
import { parseTrainOptions } from '../train/trainOptions';
import { initBackend } from '../core/tf/backend';
import { makeShapesDataset } from '../tools/make_shapes_dataset';
import { openTrainData } from '../train/data/trainDataset';
import { Trainer } from '../train/trainer';
import { benchNetworks, ENGINE_CHOICES, enginesOf } from './networks';
import { benchLearning } from './learn';
import { benchResample } from './resample';
import { benchVsTorch } from './vsTorch';

const BENCH_PARTS = ['networks', 'pipeline', 'learning', 'resample', 'translate', 'import', 'tiling'] as const;

async function benchPipeline(iters: number) {
  const rows = [];
  for (const c of [
    { crop: 64, load: 72, ngf: 32, netG: 'resnet_6blocks' },
    { crop: 128, load: 144, ngf: 64, netG: 'resnet_9blocks' },
  ]) {
    const root = mkdtempSync(path.join(tmpdir(), 'bench-pipe-'));
    try {
      const dataroot = path.join(root, 'data');
      await makeShapesDataset({ out: dataroot, size: c.load, n: 32, n_test: 1, seed: 1, force: false });
      const o = parseTrainOptions({
        dataroot,
        name: 'bench',
        checkpoints_dir: path.join(root, 'ck'),
        netG: c.netG,
        ngf: c.ngf,
        load_size: c.load,
        crop_size: c.crop,
        max_iters: iters,
        print_freq: 1e9,
        display_freq: 1e9,
        save_latest_freq: 1e9,
        seed: 1,
        backend: 'wasm',
      });
      const r = await new Trainer(o, await openTrainData(o, () => undefined), { log: () => undefined }).run();
      const row = {
        crop_size: c.crop,
        netG: c.netG,
        ngf: c.ngf,
        ndf: 64,
        iterations: r.itersRun,
        s_per_iter: +(r.stepMs / r.itersRun / 1000).toFixed(3),
        data_wait_share: +(r.dataWaitMs / (r.dataWaitMs + r.stepMs)).toFixed(4),
      };
      process.stderr.write(`${JSON.stringify(row)}\n`);
      rows.push(row);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  return rows;
}

/** A bench script run as its own process (clean onnxruntime threads, a fresh heap); its stdout is JSON. */
function benchProcess(script: string): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) return { error: `bench/${script} exited with ${r.status}` };
  return JSON.parse(r.stdout);
}

const benchSchema = z
  .object({
    engine: field
      .enum(ENGINE_CHOICES)
      .default('onnxruntime')
      .describe('training engine(s) for the network figures and --vs_torch'),
    backends: field.list(BACKENDS).default(['wasm']).describe('tfjs backends for the network figures'),
    reps: field.int(1).optional().describe('timed repetitions per figure (median); default 5, 3 with --vs_torch'),
    pipeline_iters: field.int(1).default(8).describe('iterations of the real training loop per size'),
    learn_iters: field.int(1).default(1000).describe('iterations of the shapes learning run'),
    skip: z
      .preprocess(
        (v) => (typeof v === 'string' ? v.split(',').filter(Boolean) : v),
        z.array(
          z.enum(BENCH_PARTS, {
            errorMap: () => ({ message: `must be a comma-separated list of ${BENCH_PARTS.join(', ')}` }),
          }),
        ),
      )
      .default([])
      .describe('comma-separated parts to skip'),
    vs_torch: field
      .boolean()
      .default(false)
      .describe(
        'only PyTorch (tools/bench_torch.py) and this trainer back to back on the same configurations, with the ratio',
      ),
    rounds: field.int(1).default(3).describe('--vs_torch: alternating rounds per configuration (median ratio)'),
    sizes: field.intList(1).default([64, 128]).describe('--vs_torch: crop sizes (64, 128, 256)'),
    python: field.text().default('/usr/bin/python3').describe('--vs_torch: a Python with torch'),
    threads: field
      .intList(1)
      .optional()
      .describe('--vs_torch: thread counts for PyTorch and ours alike, e.g. 1,2 for the speed-up; default every core'),
    workers: field
      .intList(1)
      .refine((l) => l.every((w) => w === 1 || w === 2), 'must be a comma-separated list of 1 and 2')
      .optional()
      .describe(
        '--vs_torch: onnxruntime worker layouts to time, e.g. 1,2 (one session, two workers); default as auto picks',
      ),
  })
  .strict();

runCommand(
  {
    name: 'bench',
    program: 'npm run bench --',
    summary:
      'Training-side figures (networks, pipeline, learning, translate, import) as one JSON document on stdout; ' +
      'with --vs_torch only PyTorch beside this trainer.',
    schema: benchSchema,
    placeholders: {
      backends: '<list>',
      skip: '<parts>',
      sizes: '<list>',
      python: '<path>',
      threads: '<list>',
      workers: '<list>',
    },
    exit: 'immediately',
  },
  async (o) => {
    const skip = new Set<string>(o.skip);
    const out: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
    const engines = enginesOf(o.engine);
    if (o.vs_torch) {
      out.vs_torch = await benchVsTorch({
        python: o.python,
        rounds: o.rounds,
        reps: o.reps ?? 3,
        sizes: o.sizes,
        engines,
        threads: o.threads,
        workers: o.workers as (1 | 2)[] | undefined,
      });
      console.log(JSON.stringify(out, null, 2));
      return;
    }
    if (!skip.has('networks')) out.networks = await benchNetworks(engines, o.backends, o.reps ?? 5, [64, 128]);
    await initBackend('wasm');
    if (!skip.has('pipeline')) out.pipeline = await benchPipeline(o.pipeline_iters);
    if (!skip.has('learning')) out.learning = await benchLearning(o.learn_iters, 200);
    if (!skip.has('resample')) out.resample = await benchResample(o.reps);
    if (!skip.has('translate')) out.translate = benchProcess('translate.ts');
    if (!skip.has('import')) out.import = benchProcess('import.ts');
    if (!skip.has('tiling')) out.tiling = benchProcess('tiling.ts');
    console.log(JSON.stringify(out, null, 2));
  },
);
