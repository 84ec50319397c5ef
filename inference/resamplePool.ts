/**
 * PIL-exact bicubic resizing (core/image/resample.ts) for the serving and bulk pipelines: small
 * images inline, large ones on a small pool of worker threads so the event loop stays free
 * (a 24 MP photo takes about half a second to reduce). Threads start on first use and end after
 * a few idle seconds, so they never keep a process (or a test run) alive.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import { resizeBicubic } from '../core/image/resample';
import { startTsWorker } from '../core/threads/tsWorker';
import type { ResizeReply, ResizeRequest } from './resampleWorker';

/** Input + output pixels below which a resize runs inline (a thread hop costs more). */
export const INLINE_PIXELS = 512 * 512;
const THREADS = Math.max(1, Math.min(2, availableParallelism()));
const WORKER_FILE = path.join(__dirname, 'resampleWorker.ts');

const IDLE_MS = 3000;

interface Slot {
  worker: Worker;
  busy: number;
  idle?: NodeJS.Timeout;
}

const slots: Slot[] = [];
const pending = new Map<number, { resolve(i: RawImage): void; reject(e: Error): void }>();
let nextId = 1;

function failAll(e: Error): void {
  for (const p of pending.values()) p.reject(e);
  pending.clear();
}

function slot(): Slot {
  if (slots.length < THREADS && slots.every((s) => s.busy > 0)) {
    const worker = startTsWorker(WORKER_FILE);
    const s: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (m: ResizeReply) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      s.busy--;
      if (s.busy === 0) {
        s.idle = setTimeout(() => {
          // Out of the pool first, so no new work reaches a thread that is ending.
          if (slots.includes(s)) slots.splice(slots.indexOf(s), 1);
          void worker.terminate();
        }, IDLE_MS);
        s.idle.unref();
      }
      if ('error' in m) p.reject(new Error(m.error));
      else p.resolve(m.image);
    });
    worker.on('error', (e) => failAll(new Error(`resampling worker crashed: ${e.message}`)));
    worker.on('exit', () => {
      if (slots.includes(s)) slots.splice(slots.indexOf(s), 1);
      if (s.busy > 0) failAll(new Error('resampling worker exited'));
    });
    slots.push(s);
  }
  return slots.reduce((a, b) => (b.busy < a.busy ? b : a));
}

/**
 * PIL-exact bicubic resize; the input itself when the size already matches. With `consume`, the
 * caller gives up `img`: its buffer is moved to the thread rather than copied when it owns the
 * whole buffer (no second full-size copy of a large photo).
 */
export async function resize(img: RawImage, size: ImageSize, consume = false): Promise<RawImage> {
  if (img.width === size.width && img.height === size.height) return img;
  if (img.width * img.height + size.width * size.height <= INLINE_PIXELS)
    return resizeBicubic(img, size.width, size.height);
  const s = slot();
  const id = nextId++;
  const image: RawImage = { data: img.data, width: img.width, height: img.height, channels: img.channels };
  return new Promise<RawImage>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    clearTimeout(s.idle);
    s.busy++;
    const buf = img.data.buffer;
    const whole = img.data.byteOffset === 0 && img.data.byteLength === buf.byteLength && buf instanceof ArrayBuffer;
    s.worker.postMessage(
      { id, image, width: size.width, height: size.height } satisfies ResizeRequest,
      consume && whole ? [buf] : [],
    );
  });
}
