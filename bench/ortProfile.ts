/**
 * Where one CycleGAN iteration's time goes on the onnxruntime engine (train/onnx): the generator-
 * step and discriminator-step graphs are built as the engine builds them, loaded with onnxruntime's
 * profiler on, run for `--warmup` iterations (each feeding its updated weights and Adam moments to
 * the next, as training does) and once more; that last, steady-state run of each graph is summed by
 * kernel (bench/ortTrace.ts): forward convolutions and products, input gradients (`/dx`), weight
 * gradients (`/dW`, `/db`), Adam, the rest by operator type, and kernel time against wall time.
 *
 *   npx tsx bench/ortProfile.ts [--size 64|128] [--threads N] [--warmup 2] [--top 6] [--json]
 *
 * Profiling adds a little time per node; the totals are for finding where time goes, the
 * iteration times come from `npm run bench`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { discriminatorSpec, generatorSpec, paramSpecs } from '../core/arch/spec';
import { Rng } from '../core/rng';
import { discriminatorOptions, generatorOptions, type NetName } from '../train/cycleGanModel';
import { initialModelState } from '../train/modelState';
import {
  BC2_SQRT,
  discriminatorStepGraph,
  generatorStepGraph,
  moment,
  STEP_SIZE,
  updated,
  type StepGraph,
  type StepGraphOptions,
} from '../train/onnx/stepGraphs';
import { benchTrainingOptions, CONFIGS } from './networks';
import { formatSummary, summarizeLastRun, takeProfile } from './ortTrace';

/** PyTorch's Adam β2 and ε, as the engine uses them. */
const BETA2 = 0.999;
const EPS = 1e-8;

async function ortProfile(o: { size: '64' | '128'; threads?: number; warmup: number; top: number; json: boolean }) {
  const c = CONFIGS.find((x) => x.size === Number(o.size))!;
  const threads = o.threads ?? os.availableParallelism();
  const opts = benchTrainingOptions(`resnet_${c.nBlocks}blocks`, c.ngf, c.ndf);
  const specs = {
    G_A: generatorSpec(generatorOptions(opts, 'AtoB')),
    G_B: generatorSpec(generatorOptions(opts, 'BtoA')),
    D_A: discriminatorSpec(discriminatorOptions(opts, 'B')),
    D_B: discriminatorSpec(discriminatorOptions(opts, 'A')),
  };
  const graphOptions: StepGraphOptions = { specs, ...opts, beta2: BETA2, eps: EPS };
  const hw: [number, number, number] = [1, c.size, c.size];
  const imageShapes = { real_A: hw, real_B: hw, fake_A: hw, fake_B: hw };
  const graphs = {
    G: generatorStepGraph(graphOptions, imageShapes),
    D: discriminatorStepGraph(graphOptions, imageShapes),
  };

  const state = initialModelState(opts, new Rng(2), 2);
  const tensors = new Map<string, ort.Tensor>();
  for (const net of Object.keys(specs) as NetName[])
    for (const p of paramSpecs(specs[net])) {
      const key = `${net}.${p.key}`;
      tensors.set(key, new ort.Tensor('float32', state.nets[net].get(p.key)!.data, p.shape));
      for (const m of ['m', 'v'] as const)
        tensors.set(
          moment(m, key),
          new ort.Tensor('float32', new Float32Array(p.shape.reduce((a, b) => a * b, 1)), p.shape),
        );
    }
  const rng = new Rng(3);
  const image = () =>
    new ort.Tensor(
      'float32',
      Float32Array.from({ length: c.size * c.size * 3 }, () => 2 * rng.next() - 1),
      [...hw, 3],
    );

  const dir = mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  const sessions: Partial<Record<'G' | 'D', ort.InferenceSession>> = {};
  try {
    for (const kind of ['G', 'D'] as const)
      sessions[kind] = await ort.InferenceSession.create(graphs[kind].model, {
        // As the engine loads them (train/onnx/ortTrainingModel.ts), with the profiler on.
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        enableProfiling: true,
        profileFilePrefix: path.join(dir, kind),
      });
    const wallMs = { G: 0, D: 0 };
    /** One run of a step graph; its updated parameters and moments become the next run's inputs. */
    const step = async (kind: 'G' | 'D', t: number, graph: StepGraph, images: Record<string, ort.Tensor>) => {
      const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);
      const feeds: Record<string, ort.Tensor> = {
        ...images,
        [STEP_SIZE]: scalar(opts.lr / (1 - opts.beta1 ** t)),
        [BC2_SQRT]: scalar(Math.sqrt(1 - BETA2 ** t)),
      };
      for (const key of [...graph.keys, ...graph.frozenKeys]) feeds[key] = tensors.get(key)!;
      for (const key of graph.keys)
        for (const m of ['m', 'v'] as const) feeds[moment(m, key)] = tensors.get(moment(m, key))!;
      const t0 = performance.now();
      const out = await sessions[kind]!.run(feeds);
      wallMs[kind] = performance.now() - t0;
      for (const key of graph.keys) {
        tensors.set(key, out[updated('param', key)]);
        for (const m of ['m', 'v'] as const) tensors.set(moment(m, key), out[updated(m, key)]);
      }
      return out;
    };
    for (let t = 1; t <= o.warmup + 1; t++) {
      const real = { real_A: image(), real_B: image() };
      const g = await step('G', t, graphs.G, real);
      // The image pools hand back the newest fakes while they fill; a steady state needs no more.
      await step('D', t, graphs.D, { ...real, fake_A: g.fake_A, fake_B: g.fake_B });
    }
    const summaries = (['G', 'D'] as const).map((kind) => ({
      kind,
      summary: summarizeLastRun(takeProfile(sessions[kind]!, path.join(dir, kind))),
      wall_ms: wallMs[kind],
    }));
    const config = `${c.size}², ngf ${c.ngf}, ${c.nBlocks} blocks, ndf ${c.ndf}, ${threads} intra-op thread(s)`;
    if (o.json) {
      console.log(
        JSON.stringify(
          { size: c.size, ngf: c.ngf, n_blocks: c.nBlocks, ndf: c.ndf, threads, steps: summaries },
          null,
          2,
        ),
      );
      return;
    }
    const names = { G: 'generator step', D: 'discriminator step' };
    for (const s of summaries)
      console.log(
        `${formatSummary(`${names[s.kind]} (${config}), run ${o.warmup + 1}`, s.summary, s.wall_ms, o.top)}\n`,
      );
  } finally {
    for (const s of Object.values(sessions)) await s.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

runCommand(
  {
    name: 'bench/ortProfile',
    program: 'npx tsx bench/ortProfile.ts',
    summary:
      "Where one CycleGAN iteration's time goes on the onnxruntime engine, by kernel category and operator " +
      '(generator and discriminator step); prints tables.',
    schema: z
      .object({
        size: field
          .enum(['64', '128'] as const)
          .default('64')
          .describe('64 (ngf 32, 6 blocks) or 128 (ngf 64, 9 blocks)'),
        threads: field.int(1).optional().describe('onnxruntime intra-op threads; default every core'),
        warmup: field.int(0).default(2).describe('iterations before the profiled one'),
        top: field.int(0).default(6).describe('operator types listed per category'),
        json: field.boolean().default(false).describe('print JSON instead of tables'),
      })
      .strict(),
    exit: 'immediately',
  },
  ortProfile,
);
