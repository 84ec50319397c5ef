/**
 * What one request runs as, decided once from the image header before any pixel is decoded:
 * `batched` (the whole image through the batch queue) or `tiled` (tiles of `side` pixels sharing
 * whole-image instance-norm statistics, inference/tiling).
 */
import type { Direction, ModelManifest, TilingManifest } from '../core/modelManifest';
import type { ImageSize } from '../core/image/rawImage';
import { measureImage, type PixelLimits, type SizeMode } from './preprocess';
import { coreSide } from './tiling/tilePlan';
import { tileFeather, TilingError, type TileChoice, type TilingSettings } from './tiling/tiledTranslate';

export type RequestPlan =
  | { kind: 'batched'; processing: ImageSize }
  | { kind: 'tiled'; processing: ImageSize; side: number; tiling: TilingManifest };

export interface PlanContext {
  /** The model's name, in messages. */
  name: string;
  manifest: ModelManifest;
  limits: PixelLimits;
  tiling: TilingSettings;
}

/** Tile side for this processing size and choice, or null to run untiled. */
export function chooseTileSide(
  c: PlanContext,
  entry: TilingManifest | undefined,
  size: ImageSize,
  choice: TileChoice = 'auto',
): number | null {
  if (choice === 'off') return null;
  if (!entry) {
    if (choice === 'auto') return null;
    throw new TilingError(
      `model '${c.name}' cannot tile: its folder predates tiled execution (re-export it, or run tools/add_tiling_graphs.ts on it)`,
    );
  }
  if (choice === 'auto' && size.width * size.height <= c.tiling.tilePixels) return null;
  const feather = tileFeather(entry);
  // `auto` never picks a tile too small for the model's halo; an explicit N is checked instead.
  const smallest = 2 * (entry.halo + feather) + Math.max(entry.multiple, 2 * feather);
  const side = choice === 'auto' ? Math.max(Math.floor(Math.sqrt(c.tiling.tilePixels)), smallest) : choice;
  try {
    coreSide(side, entry.halo + feather, entry.multiple, feather);
  } catch (e) {
    throw new TilingError((e as Error).message);
  }
  return side;
}

/**
 * Reads the header (input limit checked there), works out the processing size (`backToInput`: the
 * output goes back to the input's size, preprocess.ts effectiveSizeMode) and picks the plan.
 */
export async function planRequest(
  bytes: Uint8Array,
  c: PlanContext,
  o: { direction: Direction; size: SizeMode; tile?: TileChoice; backToInput?: boolean },
): Promise<RequestPlan & { input: ImageSize }> {
  const m = c.manifest;
  const { header, processing } = await measureImage(bytes, {
    size: o.size,
    preferredSize: m.preferredSize,
    sizeMultiple: m.sizeMultiple,
    maxInputPixels: c.limits.maxInputPixels,
    backToInput: o.backToInput,
  });
  const tiling = m.directions[o.direction]?.tiling;
  const side = chooseTileSide(c, tiling, processing, o.tile);
  return side === null
    ? { kind: 'batched', processing, input: header }
    : { kind: 'tiled', processing, side, tiling: tiling!, input: header };
}
