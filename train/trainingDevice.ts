/**
 * Where the onnxruntime training engine runs its step graphs (`npm run train -- --device`): the
 * device asked for, or with 'auto' the fastest one known to be right: CUDA where its provider is
 * installed and an NVIDIA device exists (every run's state crosses the bus there: onnxruntime-node
 * binds device buffers for WebGPU only), else the CPU. WebGPU (weights and Adam moments stay in
 * WebGPU buffers between runs) runs only when named until its parity tests pass; a software
 * adapter is never taken automatically. A GPU taken or passed over is logged.
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
  const cuda = probes.cuda();
  if (cuda === null) {
    log('device auto: cuda');
    return 'cuda';
  }
  // WebGPU only when named: its Adam moments of some conv weights still differ from the CPU
  // engine's (tests/train/onnx/ortModelBase.test.ts), and auto never takes a path known to be wrong.
  const webgpu = autoAdapter(probes.webgpu());
  if (webgpu.usable)
    log(
      `device auto: cpu, passed over WebGPU on ${adapterName(webgpu.adapter)} (--device webgpu uses it; not yet exact)`,
    );
  return 'cpu';
}
