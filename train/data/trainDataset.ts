/**
 * The training loop's view of the data (train/trainData.ts): `<dataroot>/trainA|B` through
 * UnalignedDataset and a Prefetcher that keeps loading across epoch boundaries.
 *
 * Batches come out as the model consumes them: with --direction BtoA the trainB images are the
 * model's A (the official `set_input` swap), so `A` always feeds G_A.
 *
 * `iter` on each batch is its slot in the epoch. A slot whose samples were all unusable is passed
 * over, so a resume position must be `iter + 1` of the last batch trained on, not a count of
 * batches received.
 */
import { warnIfEnlarged } from './loadSizeCheck';
import type { TrainOptions } from '../trainOptions';
import type { TrainBatch, TrainData } from '../trainData';
import { Prefetcher } from './prefetcher';
import { UnalignedDataset, type Batch, type DataPosition } from './unalignedDataset';

export interface FolderTrainBatch extends TrainBatch {
  epoch: number;
  /** Slot of this batch in the epoch (0-based); resume after it at `iter + 1`. */
  iter: number;
  /** Source files of A and B (after the direction swap), one per image. */
  aPaths: string[];
  bPaths: string[];
  /** Samples of this slot left out because a file was unusable. */
  skipped: number;
}

interface Stream {
  seed: number;
  prefetcher: Prefetcher;
  /** A batch of a later epoch fetched while looking for the end of the current one. */
  pending: { batch: Batch; waitMs: number } | null;
}

export class FolderTrainData implements TrainData {
  readonly itersPerEpoch: number;
  private readonly datasets = new Map<number, UnalignedDataset>();
  private readonly warned = new Set<string>();
  private stream?: Stream;

  constructor(
    readonly aPaths: readonly string[],
    readonly bPaths: readonly string[],
    readonly opts: TrainOptions,
    private readonly log: (message: string) => void,
  ) {
    this.itersPerEpoch = Math.ceil(Math.max(aPaths.length, bPaths.length) / opts.batch_size);
  }

  /** Distinct files skipped so far as unusable. */
  get skipped(): number {
    return this.warned.size;
  }

  private dataset(seed: number): UnalignedDataset {
    let ds = this.datasets.get(seed);
    if (!ds) {
      // Each dataset warns once per file; this keeps it once per file across seeds too.
      ds = new UnalignedDataset(this.aPaths, this.bPaths, this.opts, seed, (message) => {
        if (this.warned.has(message)) return;
        this.warned.add(message);
        this.log(`warning: ${message}`);
      });
      this.datasets.set(seed, ds);
    }
    return ds;
  }

  private streamAt(seed: number, from: DataPosition): Stream {
    const s = this.stream;
    if (s && s.seed === seed) {
      const at = s.pending ? { epoch: s.pending.batch.epoch, index: s.pending.batch.start } : s.prefetcher.position;
      if (at.epoch === from.epoch && at.index === from.index) return s;
    }
    const prefetcher = new Prefetcher(this.dataset(seed), {
      from,
      lastEpoch: this.opts.n_epochs + this.opts.n_epochs_decay,
      depth: Math.max(1, this.opts.num_threads),
    });
    this.stream = { seed, prefetcher, pending: null };
    return this.stream;
  }

  private toTrainBatch(b: Batch, waitMs: number): FolderTrainBatch {
    const swap = this.opts.direction === 'BtoA';
    return {
      A: swap ? b.B : b.A,
      B: swap ? b.A : b.B,
      shapeA: swap ? b.shapeB : b.shapeA,
      shapeB: swap ? b.shapeA : b.shapeB,
      aPaths: swap ? b.bPaths : b.aPaths,
      bPaths: swap ? b.aPaths : b.bPaths,
      waitMs,
      epoch: b.epoch,
      iter: Math.floor(b.start / this.opts.batch_size),
      skipped: b.skipped,
    };
  }

  async *epoch(seed: number, epoch: number, startIter: number): AsyncGenerator<FolderTrainBatch> {
    if (!Number.isInteger(startIter) || startIter < 0) throw new Error(`startIter must be >= 0 (got ${startIter})`);
    if (startIter >= this.itersPerEpoch) return;
    const s = this.streamAt(seed, { epoch, index: startIter * this.opts.batch_size });
    for (;;) {
      let next = s.pending;
      s.pending = null;
      if (!next) {
        const batch = await s.prefetcher.next();
        if (!batch) return;
        next = { batch, waitMs: s.prefetcher.lastWaitMs };
      }
      if (next.batch.epoch !== epoch) {
        s.pending = next;
        return;
      }
      yield this.toTrainBatch(next.batch, next.waitMs);
    }
  }
}

/** Lists `<dataroot>/trainA|B` (one-line error when missing or empty) and reports the sizes. */
export async function openTrainData(opts: TrainOptions, log: (message: string) => void): Promise<FolderTrainData> {
  const probe = await UnalignedDataset.open(opts.dataroot, opts, { seed: 0 });
  log(
    `dataset: ${probe.aPaths.length} images in trainA, ${probe.bPaths.length} in trainB; ` +
      `${Math.ceil(probe.length / opts.batch_size)} iterations of batch ${opts.batch_size} per epoch`,
  );
  await warnIfEnlarged(
    opts,
    [
      { where: 'trainA', file: probe.aPaths[0] },
      { where: 'trainB', file: probe.bPaths[0] },
    ],
    log,
  );
  return new FolderTrainData(probe.aPaths, probe.bPaths, opts, log);
}
