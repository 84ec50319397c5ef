/**
 * One tiled image at a time per model: memory is then one image pair and one tile's activations.
 * Waiting for the turn honours the request's deadline and abort signal as the batch queue does.
 */
import { BatchTimeoutError, CancelledError } from './batcher';

export class TileQueue {
  private tail: Promise<void> = Promise.resolve();

  /** Waits for the previous tiled image; resolves with the function that ends our turn. */
  async turn(deadline?: number, signal?: AbortSignal): Promise<() => void> {
    let release!: () => void;
    const previous = this.tail;
    const mine = new Promise<void>((r) => (release = r));
    this.tail = previous.then(() => mine);
    const waits: Promise<unknown>[] = [previous];
    let timer: NodeJS.Timeout | undefined;
    if (deadline !== undefined)
      waits.push(
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new BatchTimeoutError('waited too long for the tiled image ahead')),
            Math.max(0, deadline - Date.now()),
          );
        }),
      );
    if (signal)
      waits.push(
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new CancelledError('aborted')), { once: true }),
        ),
      );
    try {
      await Promise.race(waits);
    } catch (e) {
      // Our place still has to pass its turn on once the image ahead finishes.
      release();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return release;
  }
}
