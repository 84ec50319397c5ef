/**
 * Where training checkpoints live and what they are called — shared by the trainer (which writes
 * them) and the exporter (which reads them without loading tfjs).
 *   <checkpoints_dir>/<name>/latest.ckpt, <checkpoints_dir>/<name>/<epoch>.ckpt
 */
import * as path from 'node:path';

export const CHECKPOINT_FORMAT = 'cyclegan-ts/checkpoint@1';
export const CHECKPOINT_EXT = '.ckpt';

export function checkpointPath(checkpointsDir: string, name: string, epoch: string | number): string {
  const label = String(epoch);
  if (!/^(latest|\d+)$/.test(label)) throw new Error(`--epoch must be 'latest' or an epoch number (got "${label}")`);
  return path.join(checkpointsDir, name, `${label}${CHECKPOINT_EXT}`);
}
