/**
 * The training loop (the official train.py): epochs epoch_count … n_epochs + n_epochs_decay,
 * a learning rate per epoch, losses every print_freq images, sample grids every display_freq,
 * `latest` every save_latest_freq images and at the end of each epoch, numbered checkpoints every
 * save_epoch_freq epochs. Unlike the official loop it resumes mid-epoch with the optimiser state,
 * image pools and RNG, so a resumed run continues exactly where the interrupted one stopped.
 * Iterations run on the onnxruntime engine (every core through onnxruntime's thread pool) or the
 * tfjs engine (this thread, or two worker threads with `--workers 2`), chosen by `--engine`
 * (train/engines.ts): the same math and the same checkpoints on each, so a run resumes on either.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TrainOptions } from './trainOptions';
import { Rng, randomSeed } from '../core/rng';
import { writeFileAtomic } from '../core/io/atomicWrite';
import { LOSS_NAMES, VISUAL_NAMES, type Losses } from './model/trainingModel';
import { learningRate } from './lrSchedule';
import { checkpointModelState, checkpointPath, loadCheckpoint, saveCheckpoint, type TrainPosition } from './checkpoint';
import { initialModelState, type ModelState } from './model/modelState';
import { officialRunWeights } from './officialRun';
import { describeEngine, openTrainingModel, resolveEngine } from './engines';
import { type TrainingModel } from './model/trainingModel';
import { writeSampleGrid, type GridImage } from './report/sampleGrid';
import { writeReport, type LossRecord } from './report/htmlReport';
import type { TrainData } from './trainData';

export interface TrainerHooks {
  log: (msg: string) => void;
  /** Called after every iteration (progress bars, tests); `losses` only where they are logged (print_freq). */
  onIteration?: (
    p: TrainPosition & { itersPerEpoch: number; losses?: Losses; dataWaitMs: number; stepMs: number },
  ) => void;
  /** Called when an epoch starts (progress bars). */
  onEpochStart?: (epoch: number, lastEpoch: number, itersPerEpoch: number, startIter: number) => void;
  onEpochEnd?: (epoch: number) => void;
}

export interface TrainResult {
  position: TrainPosition;
  stoppedBy: 'finished' | 'max_iters' | 'signal';
  seed: number;
  /** Time spent waiting for data, and in optimisation steps (ms), over this process's iterations. */
  dataWaitMs: number;
  stepMs: number;
  itersRun: number;
  skippedImages: number;
}

export class Trainer {
  private stopRequested = false;
  private records: LossRecord[] = [];
  private samples: { file: string; label: string; iteration: number }[] = [];

  constructor(
    readonly opts: TrainOptions,
    private readonly data: TrainData,
    private readonly hooks: TrainerHooks,
  ) {}

  get runDir(): string {
    return path.join(this.opts.checkpoints_dir, this.opts.name);
  }

  /** Ask the loop to stop after the current iteration and save `latest` (SIGINT/SIGTERM). */
  requestStop(): void {
    this.stopRequested = true;
  }

  async run(): Promise<TrainResult> {
    const o = this.opts;
    // Decided first: options the engine cannot train must fail before the run folder changes.
    const engine = resolveEngine(o, tf.getBackend(), this.hooks.log);
    fs.mkdirSync(this.runDir, { recursive: true });
    const lastEpoch = o.n_epochs + o.n_epochs_decay;

    // ---- start fresh or resume ----
    let seed: number;
    let rng: Rng;
    let state: ModelState;
    let pos: TrainPosition;
    if (o.continue_train && o.from_pth !== undefined) {
      // An official PyTorch run: its weights, everything else fresh (as the official --continue_train).
      seed = o.seed ?? randomSeed();
      rng = new Rng(seed);
      state = { ...initialModelState(o, rng, seed), nets: await officialRunWeights(o.from_pth, o.epoch, o) };
      pos = { epoch: o.epoch_count, epochIter: 0, totalIters: 0, totalImages: 0 };
      await writeFileAtomic(path.join(this.runDir, 'train_opt.json'), JSON.stringify({ ...o, seed }, null, 2) + '\n');
      fs.rmSync(path.join(this.runDir, 'loss_log.jsonl'), { force: true });
      this.hooks.log(
        `starting from the official PyTorch run ${o.from_pth} (epoch ${o.epoch}): its four networks, fresh optimisers`,
      );
    } else if (o.continue_train) {
      const file = checkpointPath(o.checkpoints_dir, o.name, o.epoch);
      const ck = await loadCheckpoint(file);
      seed = Number(ck.meta.extra.seed);
      rng = Rng.fromState(ck.meta.rng);
      state = checkpointModelState(ck);
      pos = { ...ck.meta.position };
      // A numbered checkpoint marks an epoch's end; --epoch_count set by hand overrides, as officially.
      if (o.epoch_count > 1) pos = { ...pos, epoch: o.epoch_count, epochIter: 0 };
      this.records = readLossLog(path.join(this.runDir, 'loss_log.jsonl'));
      this.hooks.log(
        `resumed from ${file}: epoch ${pos.epoch}, iteration ${pos.epochIter} of the epoch, ${pos.totalIters} in total`,
      );
    } else {
      seed = o.seed ?? randomSeed();
      rng = new Rng(seed);
      state = initialModelState(o, rng, seed);
      pos = { epoch: o.epoch_count, epochIter: 0, totalIters: 0, totalImages: 0 };
      await writeFileAtomic(path.join(this.runDir, 'train_opt.json'), JSON.stringify({ ...o, seed }, null, 2) + '\n');
      fs.rmSync(path.join(this.runDir, 'loss_log.jsonl'), { force: true });
    }
    const model = await openTrainingModel(o, state, engine, this.hooks.log);
    this.hooks.log(
      `seed ${seed}; ${this.data.itersPerEpoch} iterations per epoch; epochs ${pos.epoch}…${lastEpoch}; ` +
        describeEngine(engine),
    );

    const save = async (label: string | number): Promise<void> => {
      await saveCheckpoint(checkpointPath(o.checkpoints_dir, o.name, label), await model.exportState(), {
        options: { ...o, seed },
        // A numbered checkpoint is the state at the end of that epoch; `latest` names the epoch in progress.
        epoch: typeof label === 'number' ? label : pos.epoch,
        iteration: pos.totalIters,
        position: pos,
        rng: rng.state(),
        extra: { seed },
      });
    };

    let stoppedBy: TrainResult['stoppedBy'] = 'finished';
    let dataWaitMs = 0;
    let stepMs = 0;
    let itersRun = 0;
    try {
      outer: while (pos.epoch <= lastEpoch) {
        await model.setLearningRate(learningRate(o, pos.epoch));
        this.hooks.onEpochStart?.(pos.epoch, lastEpoch, this.data.itersPerEpoch, pos.epochIter);
        for await (const batch of this.data.epoch(seed, pos.epoch, pos.epochIter)) {
          const t0 = performance.now();
          // Losses are read back only when logged: on a GPU each read waits for the iteration to finish.
          const printing =
            Math.floor((pos.totalImages + batch.shapeA[0]) / o.print_freq) > Math.floor(pos.totalImages / o.print_freq);
          let losses: Losses | undefined;
          if (printing || !model.step) losses = await model.optimize(batch.A, batch.shapeA, batch.B, batch.shapeB);
          else await model.step(batch.A, batch.shapeA, batch.B, batch.shapeB);
          const ms = performance.now() - t0;
          stepMs += ms;
          dataWaitMs += batch.waitMs;
          itersRun++;
          const before = pos.totalImages;
          pos = {
            ...pos,
            epochIter: batch.iter + 1,
            totalIters: pos.totalIters + 1,
            totalImages: pos.totalImages + batch.shapeA[0],
          };
          const crossed = (freq: number) => Math.floor(pos.totalImages / freq) > Math.floor(before / freq);
          this.hooks.onIteration?.({
            ...pos,
            itersPerEpoch: this.data.itersPerEpoch,
            losses,
            dataWaitMs: batch.waitMs,
            stepMs: ms,
          });
          if (losses && crossed(o.print_freq)) await this.logLosses(pos, losses);
          if (crossed(o.display_freq)) await this.writeSamples(model, pos);
          if (crossed(o.save_latest_freq)) await save('latest');
          if (o.max_iters !== undefined && pos.totalIters >= o.max_iters) stoppedBy = 'max_iters';
          else if (this.stopRequested) stoppedBy = 'signal';
          // On an epoch's last slot, stop only after the epoch's bookkeeping (numbered checkpoint).
          if (stoppedBy !== 'finished' && pos.epochIter < this.data.itersPerEpoch) break outer;
          if (stoppedBy !== 'finished') break;
        }
        // End of epoch: checkpoints taken now resume at the start of the next one.
        const done = pos.epoch;
        this.hooks.onEpochEnd?.(done);
        pos = { ...pos, epoch: done + 1, epochIter: 0 };
        await save('latest');
        if (done % o.save_epoch_freq === 0 || done === lastEpoch) await save(done);
        this.hooks.log(`end of epoch ${done} / ${lastEpoch} (lr ${model.learningRate.toExponential(3)})`);
        if (stoppedBy === 'finished' && this.stopRequested) stoppedBy = 'signal';
        if (stoppedBy !== 'finished') break;
      }
      if (stoppedBy !== 'finished') {
        await save('latest');
        const why = stoppedBy === 'signal' ? 'on a signal' : `at --max_iters ${o.max_iters}`;
        this.hooks.log(`stopped ${why}; saved latest at iteration ${pos.totalIters}`);
      }
      if (itersRun > 0) await this.writeSamples(model, pos);
      await this.writeHtml(stoppedBy === 'finished' ? 'finished' : `stopped at iteration ${pos.totalIters}`);
      return { position: pos, stoppedBy, seed, dataWaitMs, stepMs, itersRun, skippedImages: this.data.skipped };
    } finally {
      await model.dispose();
    }
  }

  private async logLosses(pos: TrainPosition, losses: Losses): Promise<void> {
    const rec: LossRecord = { epoch: pos.epoch, iter: pos.epochIter, step: pos.totalIters, losses: { ...losses } };
    this.records.push(rec);
    fs.appendFileSync(path.join(this.runDir, 'loss_log.jsonl'), JSON.stringify(rec) + '\n');
    this.hooks.log(
      `(epoch ${pos.epoch}, iter ${pos.epochIter}) ` + LOSS_NAMES.map((k) => `${k}: ${losses[k].toFixed(3)}`).join(' '),
    );
    await this.writeHtml(`training: epoch ${pos.epoch}, iteration ${pos.totalIters}`);
  }

  private async writeSamples(model: TrainingModel, pos: TrainPosition): Promise<void> {
    // The end of a run would otherwise repeat a grid display_freq has just written (same iteration).
    if (this.samples[0]?.iteration === pos.totalIters) return;
    const v = await model.visuals();
    if (!v) return;
    const cols: GridImage[] = VISUAL_NAMES.map((n) => v[n]);
    const dir = path.join(this.runDir, 'web', 'images');
    fs.mkdirSync(dir, { recursive: true });
    const file = `epoch${String(pos.epoch).padStart(3, '0')}_iter${String(pos.totalIters).padStart(7, '0')}.png`;
    await writeSampleGrid(path.join(dir, file), cols);
    this.samples.unshift({
      file: `web/images/${file}`,
      label: `epoch ${pos.epoch}, iteration ${pos.totalIters}`,
      iteration: pos.totalIters,
    });
    this.samples = this.samples.slice(0, 12);
    await this.writeHtml(`training: epoch ${pos.epoch}, iteration ${pos.totalIters}`);
  }

  private async writeHtml(status: string): Promise<void> {
    await writeReport(path.join(this.runDir, 'report.html'), {
      name: this.opts.name,
      options: this.opts as unknown as Record<string, unknown>,
      records: this.records,
      samples: this.samples,
      status,
    });
  }
}

function readLossLog(file: string): LossRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LossRecord];
      } catch {
        return []; // a line torn by a crash
      }
    });
}
