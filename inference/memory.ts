/**
 * Giving memory back after a large image. A large request leaves big ArrayBuffers (decoded pixels,
 * tensors) that V8 frees only at its next collection, which an idle server never triggers; so
 * after one, a full collection is scheduled (debounced). The same is done in the inference
 * worker's own isolate. Whether the freed memory leaves the process is then up to the allocator:
 * glibc returns large blocks only above its mmap threshold, which `npm start` pins with
 * MALLOC_MMAP_THRESHOLD_ (see README, "Memory").
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes of image data in one request past which a collection is scheduled. */
export const LARGE_IMAGE_BYTES = 16 * 1024 * 1024;

let gcFn: (() => void) | null | undefined;

function fullGc(): (() => void) | null {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  return gcFn;
}

let timer: NodeJS.Timeout | null = null;

/** Runs a full collection `delayMs` from now (once, however often it is asked for meanwhile). */
export function collectSoon(delayMs = 100): void {
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    fullGc()?.();
  }, delayMs);
  timer.unref();
}
