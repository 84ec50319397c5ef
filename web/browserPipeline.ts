/**
 * The server's translation pipeline, in the browser: decode (EXIF-oriented, the colour as PIL's
 * convert('RGB') with the alpha plane kept aside), PIL-exact bicubic resize (core/image's resampler,
 * its WebAssembly kernel fetched by the page), normalise, the generator (onnxruntime-web, run by the
 * caller), denormalise, resize back to the input's size and re-attach the alpha. Everything but the
 * decoder is the server's own code (inference/preprocess.ts, inference/postprocess.ts), bundled by
 * web/bundle.ts; so for PNG input the pixels equal the server's.
 */
import type { Direction, ModelManifest } from '../core/modelManifest';
import { toGrayscale, type ImageSize, type RawImage } from '../core/image/rawImage';
import { useResampleWasmBytes } from '../core/image/resampleWasm';
import { fromNchw } from '../inference/postprocess';
import {
  effectiveSizeMode,
  processingSize,
  resizeRaw,
  toNchw,
  type ModelInput,
  type SizeMode,
} from '../inference/preprocess';

export { parseManifest } from '../core/modelManifest';
export { parseSizeMode } from '../inference/preprocess';

/** Fetches core/image's resample.wasm; without it (no SIMD) the scalar passes give the same pixels. */
export async function loadResampler(url: string): Promise<boolean> {
  const r = await fetch(url);
  if (!r.ok) return false;
  return useResampleWasmBytes(new Uint8Array(await r.arrayBuffer()));
}

export interface DecodedInBrowser {
  image: RawImage;
  alpha: RawImage | null;
}

/**
 * RGBA of an ImageBitmap, not premultiplied. WebGL2 uploads and reads back the bitmap's own values;
 * a 2D canvas stores premultiplied colour, which loses the colour under low alpha (PIL keeps it).
 */
function readRgba(bitmap: ImageBitmap): Uint8Array {
  const { width, height } = bitmap;
  const gl = new OffscreenCanvas(width, height).getContext('webgl2', { premultipliedAlpha: false });
  if (gl && width <= gl.getParameter(gl.MAX_TEXTURE_SIZE) && height <= gl.getParameter(gl.MAX_TEXTURE_SIZE)) {
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    const fb = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    const out = new Uint8Array(width * height * 4);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, out);
    const ok = gl.getError() === gl.NO_ERROR;
    gl.deleteFramebuffer(fb);
    gl.deleteTexture(tex);
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    if (ok) return out;
  }
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { colorSpace: 'srgb' })!;
  ctx.drawImage(bitmap, 0, 0);
  return new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer);
}

/** Image bytes → RGB (+ alpha when any pixel is not opaque), EXIF orientation applied as the server does. */
export async function decodeInBrowser(blob: Blob): Promise<DecodedInBrowser> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      imageOrientation: 'from-image',
      premultiplyAlpha: 'none',
      colorSpaceConversion: 'none',
    });
  } catch {
    throw new Error('not a decodable image (this browser cannot read the file)');
  }
  const { width, height } = bitmap;
  const rgba = readRgba(bitmap);
  bitmap.close();
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const a = new Uint8Array(n);
  let opaque = true;
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    rgb[d] = rgba[s];
    rgb[d + 1] = rgba[s + 1];
    rgb[d + 2] = rgba[s + 2];
    a[i] = rgba[s + 3];
    if (a[i] !== 255) opaque = false;
  }
  return {
    image: { data: rgb, width, height, channels: 3 },
    alpha: opaque ? null : { data: a, width, height, channels: 1 },
  };
}

/** Channels a direction reads and writes (the manifest's per-direction entry, else the model's). */
function channelsOf(m: ModelManifest, d: Direction): { in: 1 | 3; out: 1 | 3 } {
  const e = m.directions[d];
  const [a, b] = d === 'AtoB' ? [m.inputNc, m.outputNc] : [m.outputNc, m.inputNc];
  return { in: e?.inputNc ?? a, out: e?.outputNc ?? b };
}

export interface Prepared {
  input: ModelInput;
  original: ImageSize;
  processing: ImageSize;
  alpha: RawImage | null;
}

/** Decoded pixels → the model input the server would feed onnxruntime for these options. */
export function prepareInBrowser(
  decoded: DecodedInBrowser,
  manifest: ModelManifest,
  direction: Direction,
  size: SizeMode,
): Prepared {
  const image = channelsOf(manifest, direction).in === 1 ? toGrayscale(decoded.image) : decoded.image;
  const original = { width: image.width, height: image.height };
  // The page always resizes the output back to the input (fit=original), as the server then does.
  const processing = processingSize(effectiveSizeMode(size, original, true), original, manifest);
  const input = toNchw(resizeRaw(image, processing), manifest.normalization);
  return { input, original, processing, alpha: decoded.alpha };
}

/** The processing size only (to decide before running whether an image needs the server's tiling). */
export function processingSizeFor(original: ImageSize, manifest: ModelManifest, size: SizeMode): ImageSize {
  return processingSize(effectiveSizeMode(size, original, true), original, manifest);
}

/**
 * Generator output → RGBA at the input's size (`fit=original`, the server's default): denormalised,
 * PIL-bicubic resized back, the input's alpha resized to it (opaque when there is none).
 */
export function finishInBrowser(
  data: Float32Array,
  dims: readonly number[],
  manifest: ModelManifest,
  prepared: Prepared,
): ImageData {
  const out = resizeRaw(fromNchw(data, dims, manifest.normalization), prepared.original);
  const alpha = prepared.alpha ? resizeRaw(prepared.alpha, out) : null;
  const n = out.width * out.height;
  const rgba = new Uint8ClampedArray(n * 4);
  const c = out.channels;
  for (let i = 0; i < n; i++) {
    const s = i * c;
    rgba[i * 4] = out.data[s];
    rgba[i * 4 + 1] = out.data[c === 3 ? s + 1 : s];
    rgba[i * 4 + 2] = out.data[c === 3 ? s + 2 : s];
    rgba[i * 4 + 3] = alpha ? alpha.data[i] : 255;
  }
  return new ImageData(rgba, out.width, out.height);
}
