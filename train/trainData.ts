/** What the training loop needs from the data pipeline (train/data implements it). */
export interface TrainBatch {
  /** NHWC batches in [-1, 1]. */
  A: Float32Array;
  B: Float32Array;
  shapeA: [number, number, number, number];
  shapeB: [number, number, number, number];
  /**
   * Slot of this batch in its epoch (0-based). Slots whose images were all unreadable are passed
   * over, so the resume position is `iter + 1` of the last batch trained on.
   */
  iter: number;
  /** How long the consumer waited for this batch (0 when prefetch kept up). */
  waitMs: number;
}

export interface TrainData {
  /** ceil(max(|A|, |B|) / batch_size), as the official DataLoader without drop_last. */
  itersPerEpoch: number;
  /** Images skipped so far because they could not be decoded. */
  readonly skipped: number;
  /**
   * The batches of `epoch` from iteration `startIter` on. Order and augmentation depend only on
   * (seed, epoch, position), so a resumed run sees exactly the batches the interrupted one would have.
   */
  epoch(seed: number, epoch: number, startIter: number): AsyncIterable<TrainBatch>;
}
