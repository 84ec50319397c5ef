/** The smallest training setup the tests use, and a quiet way to run the real trainer on it. */
import type { TrainOptions } from '../../train/trainOptions';
import { openTrainData } from '../../train/data/trainDataset';
import { Trainer, type TrainResult } from '../../train/trainer';

/** 1-block ResNet G with 4 filters, 4-filter D, 36 px images cropped to 32 (D's smallest valid input). */
export const TINY_NETWORKS = {
  netG: 'resnet_1blocks',
  ngf: 4,
  ndf: 4,
  load_size: 36,
  crop_size: 32,
} as const;

/** Runs the trainer with the real data pipeline; log lines go to `log` (default: dropped). */
export async function trainQuietly(o: TrainOptions, log: (m: string) => void = () => undefined): Promise<TrainResult> {
  return new Trainer(o, await openTrainData(o, log), { log }).run();
}
