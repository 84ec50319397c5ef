/**
 * Where the tiles go. Each axis is cut into cores whose boundaries are multiples of the model's
 * downsampling factor (so every tile's strided grid lines up with the whole image's); a tile is
 * its core plus `halo` pixels of real neighbouring image on each side that is not an image border.
 * Image borders get no halo: there the graph's own reflect padding is what the untiled run does.
 *
 * Outputs are blended with separable linear ramps of half-width `feather` around each inner
 * core boundary. The ramps of neighbouring tiles sum to one, so no weight image is needed.
 */

export interface AxisPlan {
  /** Core boundaries: 0 = b[0] < b[1] < … < b[n] = size. */
  bounds: number[];
  /** Tile i covers [start[i], end[i]) — its core widened by the halo, clamped to the image. */
  start: number[];
  end: number[];
}

export interface TilePlan {
  width: number;
  height: number;
  halo: number;
  feather: number;
  x: AxisPlan;
  y: AxisPlan;
}

export interface PlanOptions {
  width: number;
  height: number;
  /** Side of the tiles run through the network, halo included (the memory budget). */
  tileSide: number;
  halo: number;
  multiple: number;
  feather?: number;
}

function axis(size: number, coreMax: number, halo: number, multiple: number): AxisPlan {
  const n = Math.ceil(size / coreMax);
  const bounds = [0];
  for (let i = 1; i < n; i++) bounds.push(Math.round((i * size) / n / multiple) * multiple);
  bounds.push(size);
  const start: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < n; i++) {
    start.push(Math.max(0, bounds[i] - halo));
    end.push(Math.min(size, bounds[i + 1] + halo));
  }
  return { bounds, start, end };
}

/** The largest core that fits a tile of `tileSide` with the halo, or an error naming the minimum. */
export function coreSide(tileSide: number, halo: number, multiple: number, feather = 0): number {
  const core = Math.floor((tileSide - 2 * halo) / multiple) * multiple;
  const min = Math.max(multiple, 2 * feather);
  if (core < min)
    throw new Error(
      `tiles of ${tileSide} px are too small for this model: the halo takes ${2 * halo} px, ` +
        `so tiles need at least ${2 * halo + Math.ceil(min / multiple) * multiple} px`,
    );
  return core;
}

export function planTiles(o: PlanOptions): TilePlan {
  const feather = o.feather ?? 0;
  if (o.width % o.multiple || o.height % o.multiple)
    throw new Error(`image ${o.width}x${o.height} is not a multiple of ${o.multiple} on both sides`);
  if (o.halo % o.multiple) throw new Error(`halo ${o.halo} is not a multiple of ${o.multiple}`);
  if (feather > o.halo) throw new Error(`feather ${feather} exceeds the halo ${o.halo}`);
  const core = coreSide(o.tileSide, o.halo, o.multiple, feather);
  const x = axis(o.width, core, o.halo, o.multiple);
  const y = axis(o.height, core, o.halo, o.multiple);
  // Spreading the image evenly can leave cores below `core`; ramps from both ends must not overlap.
  let smallest = Infinity;
  for (const a of [x, y])
    for (let i = 1; i < a.bounds.length; i++) smallest = Math.min(smallest, a.bounds[i] - a.bounds[i - 1]);
  return { width: o.width, height: o.height, halo: o.halo, feather: Math.min(feather, Math.floor(smallest / 2)), x, y };
}

/**
 * Blend weight of tile `i` along an axis at coordinate `p` (0 outside its blend range). Inside a
 * ramp [b − f, b + f) the upper tile's weight rises from 0 to 1 at pixel centres.
 */
export function blendWeight(a: AxisPlan, i: number, p: number, feather: number): number {
  const lo = a.bounds[i];
  const hi = a.bounds[i + 1];
  const last = a.bounds.length - 2;
  const f = feather;
  if (i > 0 && p < lo + f) {
    if (p < lo - f) return 0;
    return (p - (lo - f) + 0.5) / (2 * f);
  }
  if (i < last && p >= hi - f) {
    if (p >= hi + f) return 0;
    return 1 - (p - (hi - f) + 0.5) / (2 * f);
  }
  return p >= lo - (i > 0 ? f : 0) && p < hi + (i < last ? f : 0) ? 1 : 0;
}

/** [from, to) of coordinates where tile `i` has non-zero weight. */
export function blendRange(a: AxisPlan, i: number, feather: number): [number, number] {
  const last = a.bounds.length - 2;
  return [i > 0 ? a.bounds[i] - feather : 0, i < last ? a.bounds[i + 1] + feather : a.bounds[last + 1]];
}
