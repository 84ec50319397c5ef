/**
 * What tiled execution needs to know about a generator, derived from the shared description:
 * how far a tile border's wrong context (reflect or zero padding where the whole image has real
 * neighbours) reaches into the tile, layer by layer, and where the instance-norm layers sit.
 *
 * A tile whose interior must equal the untiled output needs a halo at least that deep on every side
 * that is not a true image border. The reach is tracked in activation pixels of each layer and
 * converted to input pixels with the layer's scale; the bounds are conservative (both sides of a
 * kernel counted on each border).
 */
import type { Layer, NetworkSpec, NormKind } from './spec';
import { sizeMultiple } from './spec';

export interface NormLayerGeometry {
  channels: number;
  /** Input pixels per activation pixel at this layer (4 after two stride-2 convolutions). */
  scale: number;
  /** Input pixels of halo for this layer's input (its pre-norm activation) to be exact in the tile's core. */
  halo: number;
}

export interface TileGeometry {
  /** Halo in input pixels for an exact tile core: the reach of the whole network, rounded up to `multiple`. */
  halo: number;
  /** Tile offsets and sides must be multiples of this (total downsampling factor). */
  multiple: number;
  norm: NormKind;
  /** Instance-norm layers in graph order (empty for batch-norm and no-norm generators). */
  normLayers: NormLayerGeometry[];
}

/** Names of the tiling graphs' inputs and outputs. */
export const tilingNames = {
  mean: (k: number): string => `mean_${k}`,
  variance: (k: number): string => `var_${k}`,
  sum: (k: number): string => `sum_${k}`,
  sumSquares: (k: number): string => `sumsq_${k}`,
  ownMean: (k: number): string => `own_mean_${k}`,
  ownVariance: (k: number): string => `own_var_${k}`,
  given: 'given',
  region: 'region',
};

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

export function tileGeometry(spec: NetworkSpec): TileGeometry {
  const multiple = sizeMultiple(spec);
  const normLayers: NormLayerGeometry[] = [];
  const kinds = new Set<NormKind>();
  // `reach`: activation pixels from a tile border that may differ from the untiled network.
  // A reflection pad is counted with the convolution that consumes it (`pending`).
  const walk = (layers: Layer[], reach: number, scale: number): { reach: number; scale: number } => {
    let pending = 0;
    for (const l of layers) {
      switch (l.op) {
        case 'reflectPad':
          pending += l.pad;
          break;
        case 'conv': {
          // Output j reads inputs j·s − P … j·s − P + k − 1 (P: all padding before it).
          const p = l.pad + pending;
          pending = 0;
          reach = Math.ceil((reach + Math.max(p, l.kernel - 1 - p)) / l.stride);
          scale *= l.stride;
          break;
        }
        case 'convTranspose': {
          // Output o = i·s − p + t (t < k): left reach s·m + k − 1 − p, right s·m + k + outputPad − s − p.
          const s = l.stride;
          reach = s * reach + Math.max(l.kernel - 1 - l.pad, l.kernel + l.outputPad - s - l.pad);
          scale /= s;
          break;
        }
        case 'instanceNorm':
          kinds.add('instance');
          normLayers.push({ channels: l.channels, scale, halo: roundUp(reach * scale, multiple) });
          break;
        case 'batchNorm':
          kinds.add('batch');
          break;
        case 'residual':
        case 'skipConcat': {
          const inner = walk(l.body, reach, scale);
          reach = Math.max(reach, inner.reach);
          scale = inner.scale;
          break;
        }
        default:
          break;
      }
    }
    return { reach, scale };
  };
  const { reach, scale } = walk(spec.layers, 0, 1);
  if (scale !== 1) throw new Error(`generator output is at scale ${scale} of its input; tiling needs 1`);
  const norm: NormKind = kinds.has('instance') ? 'instance' : kinds.has('batch') ? 'batch' : 'none';
  return { halo: roundUp(reach, multiple), multiple, norm, normLayers };
}
