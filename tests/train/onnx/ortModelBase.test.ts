/**
 * The onnxruntime training engine on the WebGPU provider (`--device webgpu`), on whatever adapter
 * this machine has (in CI Mesa's lavapipe: `VK_ICD_FILENAMES=…/lvp_icd.json npx jest <file>`):
 * one iteration equals the CPU engine's within float tolerance for a ResNet and a U-Net generator,
 * the state stays on the device (only images, losses and Adam's two scalars cross), and a
 * checkpoint written on one device resumes on the other, and exactly on the same one.
 * Skipped, with the reason printed, where no adapter exists.
 *
 * Known to fail on lavapipe (marked `failing`, so that a fix shows up as a failing-test pass):
 * losses, images and the weights after the first Adam step agree within 1e-4, but the gradients of
 * strided and transposed convolutions' weights (seen as Adam's first moments, e.g.
 * G_B.model.11.weight: scaled error 1.34) do not; Adam's first step hides it (±lr whatever the
 * gradient's size), later steps do not. Until this is found and fixed, --device webgpu trains wrongly.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkpointModelState, loadCheckpoint, saveCheckpoint } from '../../../train/checkpoint';
import { initialModelState, type ModelState, type Shape4 } from '../../../train/model/modelState';
import { LOSS_NAMES, type Losses } from '../../../train/model/trainingModel';
import { OrtTrainingModel } from '../../../train/onnx/ortTrainingModel';
import { parseTrainOptions, type TrainOptions } from '../../../train/trainOptions';
import { Rng } from '../../../core/rng';
import { webgpu } from '../../helpers/backends';
import { expectStatesAlike, stateDifferences, type StepResult } from '../../helpers/modelStates';
import { TINY_NETWORKS } from '../../helpers/tinyTraining';

/** Float-order differences between the providers' kernels, after one Adam step. */
const TOL = 1e-4;
const root = mkdtempSync(path.join(tmpdir(), 'ort-device-'));

function options(extra: Record<string, unknown> = {}): TrainOptions {
  return parseTrainOptions({ dataroot: root, ...TINY_NETWORKS, pool_size: 2, seed: 1, ...extra });
}

function image(seed: number, size: number): { data: Float32Array; shape: Shape4 } {
  const rng = new Rng(seed);
  return { data: Float32Array.from({ length: size * size * 3 }, () => 2 * rng.next() - 1), shape: [1, size, size, 3] };
}

/** Iteration `i` (its images are a function of i) and what it leaves. */
async function iteration(model: OrtTrainingModel, i: number, size: number): Promise<StepResult> {
  const a = image(2 * i, size);
  const b = image(2 * i + 1, size);
  const losses: Losses = await model.optimize(a.data, a.shape, b.data, b.shape);
  return { losses, state: await model.exportState(), visuals: (await model.visuals())! };
}

/** A state through a checkpoint file and back, as `--continue_train` reads it. */
async function throughCheckpoint(o: TrainOptions, state: ModelState, name: string): Promise<ModelState> {
  const file = path.join(root, `${name}.ckpt`);
  const position = { epoch: 1, epochIter: 1, totalIters: 1, totalImages: 1 };
  await saveCheckpoint(file, state, { options: { ...o }, epoch: 1, iteration: 1, position, rng: [], extra: {} });
  return checkpointModelState(await loadCheckpoint(file));
}

const describeOnAdapter = webgpu.found ? describe : describe.skip;
if (!webgpu.found) console.info(`skipped the onnxruntime engine on WebGPU: ${webgpu.reason}`);

describeOnAdapter(`onnxruntime engine on WebGPU (${webgpu.found ? webgpu.adapter.description : 'no adapter'})`, () => {
  // ResNet fails: the Adam first moments of its stride-2 down-convolution and its output-padded
  // transposed convolution differ from the CPU engine's (scaled error ~1); U-Net's 4x4 stride-2
  // layers agree. Until that is found, --device auto does not take WebGPU (train/trainingDevice.ts).
  const parity = async (_name: string, extra: Record<string, unknown>, size: number) => {
    const o = options(extra);
    const start = initialModelState(o, new Rng(3), 3);
    const cpu = await OrtTrainingModel.open(o, start, 2);
    const gpu = await OrtTrainingModel.open(o, start, 2, undefined, undefined, 'webgpu');
    try {
      expectStatesAlike('webgpu vs cpu', o, await iteration(cpu, 0, size), await iteration(gpu, 0, size), TOL);
      expect(cpu.transferBytes).toEqual({ toDevice: 0, fromDevice: 0 });
      // The first iteration uploaded the starting state; from the second on it stays on the device.
      const before = { ...gpu.transferBytes };
      const a = image(2, size);
      const b = image(3, size);
      await gpu.optimize(a.data, a.shape, b.data, b.shape);
      const image4 = size * size * 3 * 4;
      // Up: real_A, real_B to the G step; both again with the pooled fakes to the D step; each
      // step's Adam step size and bias correction. Down: the two fakes (for the pools), 8 losses.
      expect(gpu.transferBytes.toDevice - before.toDevice).toBe(6 * image4 + 2 * 2 * 4);
      expect(gpu.transferBytes.fromDevice - before.fromDevice).toBe(2 * image4 + LOSS_NAMES.length * 4);
    } finally {
      await Promise.all([cpu.dispose(), gpu.dispose()]);
    }
  };
  const PARITY = '%s: one iteration equals the CPU engine within 1e-4; only images, losses and two scalars cross';
  test.failing.each([['ResNet', {}, 32] as const])(PARITY, parity, 900_000);
  test.each([['U-Net', { netG: 'unet_128', load_size: 128, crop_size: 128 }, 128] as const])(PARITY, parity, 900_000);

  test.failing(
    'a checkpoint written on webgpu resumes on cpu and vice versa; on webgpu itself exactly',
    async () => {
      const o = options();
      const start = initialModelState(o, new Rng(4), 4);
      const cpu = await OrtTrainingModel.open(o, start, 2);
      const gpu = await OrtTrainingModel.open(o, start, 2, undefined, undefined, 'webgpu');
      try {
        // Uninterrupted: two iterations on each device.
        await iteration(cpu, 0, 32);
        await iteration(gpu, 0, 32);
        const afterOne = { cpu: await cpu.exportState(), gpu: await gpu.exportState() };
        const straight = { cpu: await iteration(cpu, 1, 32), gpu: await iteration(gpu, 1, 32) };
        const saved = {
          cpu: await throughCheckpoint(o, afterOne.cpu, 'cpu'),
          gpu: await throughCheckpoint(o, afterOne.gpu, 'gpu'),
        };
        // The device's state reaches the checkpoint, and comes back from it, bit for bit.
        expect(stateDifferences(afterOne.gpu, saved.gpu)).toEqual([]);

        // Resumed on the same device: exactly the uninterrupted run.
        await gpu.importState(saved.gpu);
        expect(stateDifferences(saved.gpu, await gpu.exportState())).toEqual([]);
        expect(stateDifferences(straight.gpu.state, (await iteration(gpu, 1, 32)).state)).toEqual([]);

        // Across devices: the resumed run agrees with the uninterrupted run of the device that wrote
        // the checkpoint (after one iteration from the same state, float order is all that differs;
        // the two devices' own uninterrupted runs drift further apart as Adam amplifies it).
        await cpu.importState(saved.gpu);
        const gpuToCpu = await iteration(cpu, 1, 32);
        expectStatesAlike('webgpu checkpoint resumed on cpu vs webgpu throughout', o, straight.gpu, gpuToCpu, TOL);
        await gpu.importState(saved.cpu);
        const cpuToGpu = await iteration(gpu, 1, 32);
        expectStatesAlike('cpu checkpoint resumed on webgpu vs cpu throughout', o, straight.cpu, cpuToGpu, TOL);
        // From the very same state the other device computes what it would have: the switch loses nothing.
        await cpu.importState(saved.cpu);
        expect(stateDifferences(straight.cpu.state, (await iteration(cpu, 1, 32)).state)).toEqual([]);
      } finally {
        await Promise.all([cpu.dispose(), gpu.dispose()]);
      }
    },
    900_000,
  );
});
