/**
 * PIL-exact bicubic resizing (core/image/resample.ts) for the serving and bulk pipelines: small
 * images inline, large ones on a small pool of worker threads so the event loop stays free (a
 * large photo takes a noticeable time to reduce: bench/README.md). Threads start on first use and
 * end after a few idle seconds, so they never keep a process (or a test run) alive.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { ImageSize, RawImage } from '../core/image/rawImage';
import { resizeBicubic } from '../core/image/resample';
import { startTsWorker } from '../core/threads/tsWorker';
import { WorkerRpc } from '../core/threads/workerRpc';
import type { ResizeReply, ResizeRequest } from './resampleWorker';

/** Input + output pixels below which a resize runs inline (a thread hop costs more). */
export const INLINE_PIXELS = 512 * 512;
const THREADS = Math.max(1, Math.min(2, availableParallelism()));
const WORKER_FILE = path.join(__dirname, 'resampleWorker.ts');

const IDLE_MS = 3000;

interface Slot {
  rpc: WorkerRpc<ResizeReply>;
  idle?: NodeJS.Timeout;
}

const slots: Slot[] = [];

function leave(s: Slot): void {
  if (slots.includes(s)) slots.splice(slots.indexOf(s), 1);
}

function slot(): Slot {
  if (slots.length < THREADS && slots.every((s) => s.rpc.busy > 0)) {
    const worker = startTsWorker(WORKER_FILE);
    worker.unref();
    const s: Slot = {
      rpc: new WorkerRpc<ResizeReply>(worker, {
        what: 'resampling worker',
        reply: (m) => ('error' in m ? { id: m.id, error: new Error(m.error) } : { id: m.id, value: m.image }),
        onExit: () => leave(s),
      }),
    };
    slots.push(s);
  }
  return slots.reduce((a, b) => (b.rpc.busy < a.rpc.busy ? b : a));
}

/** After a reply: a thread left with nothing to do ends after IDLE_MS (leaving the pool first). */
function idleSoon(s: Slot): void {
  if (s.rpc.busy > 0 || !s.rpc.alive) return;
  clearTimeout(s.idle);
  s.idle = setTimeout(() => {
    leave(s);
    void s.rpc.worker.terminate();
  }, IDLE_MS);
  s.idle.unref();
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
  const image: RawImage = { data: img.data, width: img.width, height: img.height, channels: img.channels };
  clearTimeout(s.idle);
  const buf = img.data.buffer;
  const whole = img.data.byteOffset === 0 && img.data.byteLength === buf.byteLength && buf instanceof ArrayBuffer;
  try {
    return await s.rpc.request<RawImage>((id) =>
      s.rpc.worker.postMessage(
        { id, image, width: size.width, height: size.height } satisfies ResizeRequest,
        consume && whole ? [buf] : [],
      ),
    );
  } finally {
    idleSoon(s);
  }
}
