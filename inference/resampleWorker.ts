/**
 * Worker-thread side of the resampling pool (resamplePool.ts): PIL-exact bicubic resizes of large
 * images off the event loop, so HTTP keeps answering while a photo is resized.
 */
import { parentPort } from 'node:worker_threads';
import type { RawImage } from '../core/image/rawImage';
import { resizeBicubic } from '../core/image/resample';

export interface ResizeRequest {
  id: number;
  image: RawImage;
  width: number;
  height: number;
}

export type ResizeReply = { id: number; image: RawImage } | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('resampleWorker.ts must run in a worker thread');

port.on('message', (m: ResizeRequest) => {
  try {
    const image = resizeBicubic(m.image, m.width, m.height);
    port.postMessage({ id: m.id, image } satisfies ResizeReply, [image.data.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message } satisfies ResizeReply);
  }
});
