/**
 * Bringing device-resident training state (weights, Adam moments, images kept on the WebGPU
 * provider between step runs) back to host memory: for checkpoints, exported state and sample
 * images. onnxruntime-node 1.30's own `Tensor.getData()` on a 'gpu-buffer' output aborts the process
 * (a C++ exception through its N-API download), so the copy is a run of an Identity graph whose
 * inputs are the device tensors and whose outputs come to the host as ordinary CPU tensors.
 */
import { createSession, trainingSessionOptions, type OrtSession, type OrtTensor } from '../../core/onnx/ortRuntime';
import { GraphBuilder } from './graphBuilder';

/** Output name of a read-back copy of input `name`. */
const hostName = (name: string) => `host/${name}`;

/** One Identity graph per set of names and shapes, kept: checkpoints read the same set every time. */
export class DeviceReadback {
  private readonly sessions = new Map<string, OrtSession>();

  /** Host copies of `tensors` (each float32 on the WebGPU provider), by the same names. */
  async read(tensors: ReadonlyMap<string, OrtTensor>): Promise<Map<string, Float32Array>> {
    if (tensors.size === 0) return new Map();
    const entries = [...tensors];
    const key = JSON.stringify(entries.map(([name, t]) => [name, t.dims]));
    let session = this.sessions.get(key);
    if (!session) {
      const b = new GraphBuilder();
      for (const [name, t] of entries) b.output(b.input(name, [...t.dims]), hostName(name));
      session = await createSession(b.build('device readback'), trainingSessionOptions(1, 'webgpu'));
      this.sessions.set(key, session);
    }
    const out = await session.run(Object.fromEntries(entries));
    return new Map(entries.map(([name]) => [name, out[hostName(name)].data as Float32Array]));
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
    this.sessions.clear();
  }
}
