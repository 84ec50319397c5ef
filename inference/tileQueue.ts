/**
 * One tiled image at a time per model: memory is then one image pair and one tile's activations.
 * Waiting for the turn honours the request's deadline and abort signal as the batch queue does.
 * Each place carries its priced time (costModel.ts), so a new request can be told how much tiled
 * work is ahead of it.
 */
import { BatchTimeoutError, CancelledError } from './batcher';

interface Place {
  estimateMs: number;
  startedAt?: number;
}

export class TileQueue {
  private tail: Promise<void> = Promise.resolve();
  private readonly places = new Set<Place>();

  /** Milliseconds of tiled work queued and running (the running image's priced time not yet spent). */
  pendingMs(): number {
    const now = performance.now();
    let ms = 0;
    for (const p of this.places)
      ms += p.startedAt === undefined ? p.estimateMs : Math.max(0, p.estimateMs - (now - p.startedAt));
    return ms;
  }

  /** Waits for the previous tiled image; resolves with the function that ends our turn. */
  async turn(deadline?: number, signal?: AbortSignal, estimateMs = 0): Promise<() => void> {
    let free!: () => void;
    const previous = this.tail;
    const mine = new Promise<void>((r) => (free = r));
    this.tail = previous.then(() => mine);
    const place: Place = { estimateMs };
    this.places.add(place);
    const release = () => {
      this.places.delete(place);
      free();
    };
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
    place.startedAt = performance.now();
    return release;
  }
}
