/**
 * Fine-tuning an official pytorch-CycleGAN-and-pix2pix run: `--continue_train --from_pth DIR`
 * reads `<DIR>/<epoch>_net_G_A.pth`, `_G_B`, `_D_A`, `_D_B` as the four networks' starting
 * weights. As in the official `--continue_train`, nothing else carries over: optimisers start
 * fresh and training starts at `--epoch_count`.
 */
import type { StateDict } from '../core/arch/stateDict';
import { fitDiscriminator, fitGenerator, officialCheckpointFile } from '../core/pth/officialCheckpoint';
import { readPthFile } from '../core/pth/readPth';
import { discriminatorOptions, generatorOptions, NET_NAMES, type ModelOptions, type NetName } from './model/cycleGan';

export async function officialRunWeights(
  dir: string,
  epoch: string,
  o: ModelOptions,
): Promise<Record<NetName, StateDict>> {
  const nets = {} as Record<NetName, StateDict>;
  for (const net of NET_NAMES) {
    const file = officialCheckpointFile(dir, epoch, net);
    const { tensors } = await readPthFile(file);
    nets[net] =
      net === 'G_A' || net === 'G_B'
        ? fitGenerator(tensors, generatorOptions(o, net === 'G_A' ? 'AtoB' : 'BtoA'), file).weights
        : // D_A judges domain B (G_A's outputs), D_B domain A.
          fitDiscriminator(tensors, discriminatorOptions(o, net === 'D_A' ? 'B' : 'A'), file).weights;
  }
  return nets;
}
