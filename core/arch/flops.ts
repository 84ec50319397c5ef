/**
 * Multiply–accumulate counts of a network on an H×W input, from the shared description. Used by
 * the benchmarks to turn milliseconds into GFLOP/s (1 MAC = 2 FLOP).
 */
import type { Layer, NetworkSpec } from './spec';

export interface Shape3 {
  c: number;
  h: number;
  w: number;
}

export function layerOutput(l: Layer, s: Shape3): Shape3 {
  switch (l.op) {
    case 'conv':
      return {
        c: l.outC,
        h: Math.floor((s.h + 2 * l.pad - l.kernel) / l.stride) + 1,
        w: Math.floor((s.w + 2 * l.pad - l.kernel) / l.stride) + 1,
      };
    case 'convTranspose':
      return {
        c: l.outC,
        h: (s.h - 1) * l.stride - 2 * l.pad + l.kernel + l.outputPad,
        w: (s.w - 1) * l.stride - 2 * l.pad + l.kernel + l.outputPad,
      };
    case 'reflectPad':
      return { c: s.c, h: s.h + 2 * l.pad, w: s.w + 2 * l.pad };
    case 'residual':
      return s;
    case 'skipConcat': {
      const inner = outputShape(l.body, s);
      return { c: s.c + inner.c, h: s.h, w: s.w };
    }
    default:
      return s;
  }
}

export function outputShape(layers: Layer[], s: Shape3): Shape3 {
  return layers.reduce((acc, l) => layerOutput(l, acc), s);
}

/** Forward MACs for one sample (convolutions only; elementwise work is negligible). */
export function forwardMacs(spec: NetworkSpec, h: number, w: number): number {
  const walk = (layers: Layer[], s: Shape3): { macs: number; out: Shape3 } => {
    let macs = 0;
    for (const l of layers) {
      const o = layerOutput(l, s);
      if (l.op === 'conv') macs += o.h * o.w * l.outC * l.inC * l.kernel * l.kernel;
      // A transposed conv does one MAC per input pixel, kernel tap and channel pair.
      if (l.op === 'convTranspose') macs += s.h * s.w * l.outC * l.inC * l.kernel * l.kernel;
      if (l.op === 'residual' || l.op === 'skipConcat') macs += walk(l.body, s).macs;
      s = o;
    }
    return { macs, out: s };
  };
  return walk(spec.layers, { c: spec.inputNc, h, w }).macs;
}
