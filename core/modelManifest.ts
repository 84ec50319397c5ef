/**
 * `model.json`: everything the server needs to serve an exported model folder.
 * Written by `npm run export`, read by `serve/` and `npm run translate`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

export const MANIFEST_FILE = 'model.json';
export const MANIFEST_FORMAT = 'cyclegan-ts/model@1';

export const directionSchema = z.enum(['AtoB', 'BtoA']);
export type Direction = z.infer<typeof directionSchema>;

const plainFileName = z
  .string()
  .min(1)
  .refine((f) => !f.includes('/') && !f.includes('\\') && f !== '..' && f !== '.', 'must be a plain file name');

const graphFile = z.object({ file: plainFileName, sha256: z.string().regex(/^[0-9a-f]{64}$/) });

/**
 * What tiled execution of a direction needs (core/arch/tileGeometry.ts): written by the exporter;
 * folders without it translate untiled only. Instance-norm generators also name their statistics
 * and apply graphs (export/onnxBuilder.ts); the others tile their plain graph.
 */
export const tilingSchema = z
  .object({
    /** Input pixels of context a tile needs on each inner side for its core to be exact. */
    halo: z.number().int().nonnegative(),
    /** Tile offsets and sides are multiples of this. */
    multiple: z.number().int().positive(),
    norm: z.enum(['instance', 'batch', 'none']),
    /** Instance-norm layers in graph order: channels, scale (input px per activation px), own halo. */
    layers: z.array(
      z.object({
        channels: z.number().int().positive(),
        scale: z.number().int().positive(),
        halo: z.number().int().nonnegative(),
      }),
    ),
    statistics: graphFile.optional(),
    apply: graphFile.optional(),
  })
  .refine(
    (t) => t.norm !== 'instance' || (t.statistics && t.apply && t.layers.length > 0),
    'instance-norm tiling needs the statistics and apply graphs and the layer list',
  );
export type TilingManifest = z.infer<typeof tilingSchema>;

const fileEntry = z.object({
  /** File name relative to the model folder (never a path outside it). */
  file: z
    .string()
    .min(1)
    .refine((f) => !f.includes('/') && !f.includes('\\') && f !== '..' && f !== '.', 'must be a plain file name'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** Half-precision copy for GPU serving; inputs and outputs stay float32. */
  fp16File: z
    .string()
    .refine((f) => !f.includes('/') && !f.includes('\\'), 'must be a plain file name')
    .optional(),
  fp16Sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /**
   * Channels this direction's graph takes and returns. Optional: when absent, AtoB maps
   * inputNc → outputNc and BtoA the reverse (they differ only for models like gray → colour).
   */
  inputNc: z.union([z.literal(1), z.literal(3)]).optional(),
  outputNc: z.union([z.literal(1), z.literal(3)]).optional(),
  tiling: tilingSchema.optional(),
  /**
   * ONNX external-data file holding the weights of this direction's graphs (the plain and the
   * tiling graphs refer to it by offset, so the folder carries one copy of them).
   */
  weights: graphFile.optional(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  name: z.string().min(1),
  description: z.string().optional(),
  /** Which domain each side is (e.g. {A: 'horse', B: 'zebra'}); free text. */
  domains: z.object({ A: z.string(), B: z.string() }).partial().optional(),
  directions: z
    .object({ AtoB: fileEntry, BtoA: fileEntry })
    .partial()
    .refine((d) => Object.keys(d).length > 0, 'at least one direction'),
  inputNc: z.union([z.literal(1), z.literal(3)]),
  outputNc: z.union([z.literal(1), z.literal(3)]),
  /** Preferred square input side: the training crop size. */
  preferredSize: z.number().int().positive(),
  /** Spatial sides must be multiples of this. */
  sizeMultiple: z.number().int().positive(),
  /** x_model = (x/255 - mean) / std per channel; the inverse on the way out. */
  normalization: z.object({ mean: z.array(z.number()), std: z.array(z.number()) }),
  /** ONNX tensor names and layout. */
  io: z
    .object({ input: z.string(), output: z.string(), layout: z.literal('NCHW') })
    .default({ input: 'input', output: 'output', layout: 'NCHW' }),
  architecture: z.record(z.unknown()).optional(),
  epoch: z.union([z.string(), z.number()]).optional(),
  createdAt: z.string().optional(),
  producer: z.object({ name: z.string(), version: z.string() }).optional(),
  /** How the exported graphs were checked against a reference implementation (written by `npm run export`). */
  verification: z.record(z.unknown()).optional(),
  /** Quality figures measured on held-out data (e.g. PSNR/SSIM). */
  metrics: z.record(z.unknown()).optional(),
});

export type ModelManifest = z.infer<typeof manifestSchema>;

export function parseManifest(json: unknown, where: string): ModelManifest {
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${where}: invalid model.json at '${issue.path.join('.') || '(root)'}': ${issue.message}`);
  }
  return r.data;
}

/**
 * Reads and checks `dir`'s model.json; `where` names the file in messages (default its path).
 * A folder without one gets "<folder> is not a model folder".
 */
export async function readManifest(dir: string, where = path.join(dir, MANIFEST_FILE)): Promise<ModelManifest> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path.dirname(where)} is not a model folder (no ${MANIFEST_FILE})`);
    throw new Error(`${where}: ${code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  return parseManifest(json, where);
}
