/**
 * Framework-neutral weights: PyTorch state_dict keys and layouts (conv [out,in,k,k],
 * transposed conv [in,out,k,k]). Checkpoints convert to this on the way out, the ONNX builder
 * and the golden fixtures speak it natively.
 */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export type StateDict = Map<string, NamedTensor>;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
