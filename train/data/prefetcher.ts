/**
 * Prepares the next batches while the training step runs: keeps up to `depth` batches loading
 * (decoding happens on sharp's worker threads), hands them out strictly in order, and measures how
 * long the consumer waited for data. Batches are a pure function of their position (see
 * unalignedDataset.ts), so prefetching never changes what the trainer sees.
 */
import { nextPosition, type Batch, type BatchSource, type DataPosition } from './unalignedDataset';

export interface PrefetchOptions {
  /** Where to start (a fresh run: `{ epoch: epoch_count, index: 0 }`). */
  from: DataPosition;
  /** Last epoch to produce (inclusive). */
  lastEpoch: number;
  /** Batches loading ahead of the consumer (>= 1). */
  depth: number;
}

type Settled = { ok: true; batch: Batch | null } | { ok: false; error: unknown };

interface Slot {
  pos: DataPosition;
  next: DataPosition;
  result: Promise<Settled>;
}

export class Prefetcher implements AsyncIterable<Batch> {
  private readonly queue: Slot[] = [];
  private cursor: DataPosition;
  private delivered: DataPosition;
  private readonly depth: number;
  private readonly lastEpoch: number;
  private goodInEpoch = 0;
  /** Whether the current epoch was followed from its first batch (a resumed one is not). */
  private epochFromStart: boolean;
  private waited = 0;
  private lastWait = 0;
  private batches = 0;
  private skippedSamples = 0;

  constructor(
    private readonly source: BatchSource,
    opts: PrefetchOptions,
  ) {
    if (!Number.isInteger(opts.depth) || opts.depth < 1)
      throw new Error(`prefetch depth must be >= 1 (got ${opts.depth})`);
    if (opts.from.index < 0 || opts.from.index >= source.length) {
      throw new Error(`resume index ${opts.from.index} is outside the epoch (0..${source.length - 1})`);
    }
    this.depth = opts.depth;
    this.lastEpoch = opts.lastEpoch;
    this.cursor = { ...opts.from };
    this.delivered = { ...opts.from };
    this.epochFromStart = opts.from.index === 0;
    this.fill();
  }

  /** Position of the next batch to be handed out (what a checkpoint should record). */
  get position(): DataPosition {
    return { ...this.delivered };
  }

  /** Milliseconds the consumer spent waiting in `next()`, in total and for the latest call. */
  get waitMs(): number {
    return this.waited;
  }

  get lastWaitMs(): number {
    return this.lastWait;
  }

  get stats(): { batches: number; waitMs: number; skippedSamples: number } {
    return { batches: this.batches, waitMs: this.waited, skippedSamples: this.skippedSamples };
  }

  private fill(): void {
    while (this.queue.length < this.depth && this.cursor.epoch <= this.lastEpoch) {
      const pos = this.cursor;
      const next = nextPosition(pos, this.source.batchSize, this.source.length);
      const result = this.source.loadBatch(pos.epoch, pos.index).then(
        (batch): Settled => ({ ok: true, batch }),
        (error: unknown): Settled => ({ ok: false, error }),
      );
      this.queue.push({ pos, next, result });
      this.cursor = next;
    }
  }

  /** The next batch in order, or null after the last epoch. Batches whose samples were all unusable are passed over. */
  async next(): Promise<Batch | null> {
    for (;;) {
      const slot = this.queue.shift();
      if (!slot) return null;
      this.fill(); // keep `depth` batches loading while we wait for this one
      const t0 = performance.now();
      const settled = await slot.result;
      this.lastWait = performance.now() - t0;
      this.waited += this.lastWait;
      if (!settled.ok) throw settled.error;
      this.delivered = slot.next;
      const endOfEpoch = slot.next.epoch !== slot.pos.epoch;
      if (settled.batch) {
        this.goodInEpoch++;
        this.batches++;
        this.skippedSamples += settled.batch.skipped;
      } else {
        this.skippedSamples += Math.min(this.source.batchSize, this.source.length - slot.pos.index);
      }
      if (endOfEpoch) {
        const wholeEpochSkipped = this.goodInEpoch === 0 && this.epochFromStart;
        this.goodInEpoch = 0;
        this.epochFromStart = true;
        if (wholeEpochSkipped) throw new Error(`no usable images: every sample of epoch ${slot.pos.epoch} was skipped`);
      }
      if (settled.batch) return settled.batch;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    for (let b = await this.next(); b; b = await this.next()) yield b;
  }
}
