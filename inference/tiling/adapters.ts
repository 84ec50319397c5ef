/**
 * Glue between the tiler and its surroundings: onnxruntime sessions as a RunGraph, images held
 * as 8-bit HWC (what decoders give, 4× smaller than float) or as a float NCHW tensor as tile
 * sources, and a sink that assembles rows into one float tensor (tests and benchmarks).
 */
import { type OrtSession, float32Tensor, int64Tensor, type OrtTensor } from '../../core/onnx/ortRuntime';
import type { RawImage } from '../../core/image/rawImage';
import { fromNchw } from '../postprocess';
import { normalizationLut, type Normalization } from '../preprocess';
import type { RowSink, RunGraph, Tensor, TileSource, TilingGraph } from './tiledTranslate';

export function ortRunGraph(sessions: Partial<Record<TilingGraph, OrtSession>>): RunGraph {
  return async (graph, feeds, fetch) => {
    const s = sessions[graph];
    if (!s) throw new Error(`no ${graph} graph loaded`);
    const input: Record<string, OrtTensor> = {};
    for (const [k, v] of Object.entries(feeds))
      input[k] = v.type === 'int64' ? int64Tensor(v.data, v.dims) : float32Tensor(v.data, v.dims);
    const out = await s.run(input, fetch);
    const result: Record<string, Tensor> = {};
    for (const name of fetch) result[name] = { data: out[name].data as Float32Array, dims: [...out[name].dims] };
    return result;
  };
}

/** A [1, C, H, W] tensor as a tile source. */
export function tensorSource(t: Tensor): TileSource {
  const [, channels, height, width] = t.dims;
  return {
    width,
    height,
    channels,
    read(x, y, w, h) {
      const out = new Float32Array(channels * h * w);
      for (let c = 0; c < channels; c++)
        for (let r = 0; r < h; r++) {
          const from = (c * height + y + r) * width + x;
          out.set(t.data.subarray(from, from + w), (c * h + r) * w);
        }
      return out;
    },
  };
}

/** Interleaved 8-bit pixels as a tile source, normalised per tile exactly as toNchw does the whole image. */
export function rawImageSource(img: RawImage, norm: Normalization): TileSource {
  const { width, height, channels } = img;
  const luts = Array.from({ length: channels }, (_, c) => normalizationLut(norm, c));
  return {
    width,
    height,
    channels,
    read(x, y, w, h) {
      const out = new Float32Array(channels * h * w);
      for (let c = 0; c < channels; c++) {
        const lut = luts[c];
        for (let r = 0; r < h; r++) {
          let j = ((y + r) * width + x) * channels + c;
          const base = (c * h + r) * w;
          for (let i = 0; i < w; i++, j += channels) out[base + i] = lut[img.data[j]];
        }
      }
      return out;
    },
  };
}

/** A sink that writes rows into an 8-bit image, converted exactly as fromNchw does a whole output. */
export function rawImageSink(out: RawImage, norm: Normalization): RowSink {
  return (y, rows, h) => {
    const band = fromNchw(rows, [out.channels, h, out.width], norm);
    out.data.set(band.data, y * out.width * out.channels);
  };
}

/** A sink that fills a [1, C, H, W] tensor. */
export function tensorSink(channels: number, width: number, height: number): { sink: RowSink; tensor: Tensor } {
  const tensor = { data: new Float32Array(channels * height * width), dims: [1, channels, height, width] };
  const sink: RowSink = (y, rows, h) => {
    for (let c = 0; c < channels; c++)
      tensor.data.set(rows.subarray(c * h * width, (c + 1) * h * width), (c * height + y) * width);
  };
  return { sink, tensor };
}
