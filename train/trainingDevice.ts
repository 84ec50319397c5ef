/**
 * Where the onnxruntime training engine runs its step graphs (`npm run train -- --device`): the
 * device asked for, or with 'auto' the fastest there is. auto takes WebGPU on a hardware adapter
 * first (onnxruntime-node keeps the weights and Adam moments in WebGPU buffers between runs), then
 * CUDA where its provider is installed and an NVIDIA device exists (every run's state crosses the
 * bus there: onnxruntime-node binds device buffers for WebGPU only), else the CPU; never a software
 * adapter (a CPU emulating a GPU, far slower than the CPU engine). A GPU taken is logged with why;
 * the CPU, the engine's home, is not (the engine line names it).
 */
import { existsSync } from 'node:fs';
import type { DeviceChoice, TrainingDevice } from '../core/config/options';
import { adapterName, autoAdapter, probeWebGpu, type AdapterProbe } from '../core/gpu/webgpuAdapter';
import { cudaProviderInstalled } from '../core/onnx/ortRuntime';

/** What auto looks at; parameters so that tests can stand in for the machine. */
export interface DeviceProbes {
  webgpu: () => AdapterProbe;
  /** Why CUDA is not usable, or null when it is. */
  cuda: () => string | null;
}

function cudaUnusable(): string | null {
  if (!cudaProviderInstalled()) return 'no CUDA provider installed (ONNXRUNTIME_NODE_INSTALL=cuda12 npm install)';
  if (!existsSync('/dev/nvidiactl')) return 'no NVIDIA device (/dev/nvidiactl)';
  return null;
}

export const MACHINE_PROBES: DeviceProbes = { webgpu: probeWebGpu, cuda: cudaUnusable };

export function resolveTrainingDevice(
  asked: DeviceChoice,
  log: (msg: string) => void = () => {},
  probes: DeviceProbes = MACHINE_PROBES,
): TrainingDevice {
  if (asked !== 'auto') return asked;
  const webgpu = autoAdapter(probes.webgpu());
  if (webgpu.usable) {
    log(`device auto: webgpu on ${adapterName(webgpu.adapter)} (weights and Adam moments stay on the GPU)`);
    return 'webgpu';
  }
  const cuda = probes.cuda();
  if (cuda === null) {
    log(`device auto: cuda (WebGPU: ${webgpu.reason})`);
    return 'cuda';
  }
  return 'cpu';
}
