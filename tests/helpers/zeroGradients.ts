/**
 * Parameters whose true gradient is exactly zero: conv biases followed directly by an instance norm
 * (it removes any per-channel shift). In float32 their gradient is rounding noise, so one Adam step
 * moves them by up to lr in a direction no reference can predict; tests measure them separately.
 */
import type { Layer, NetworkSpec } from '../../core/arch/spec';

export function biasesBeforeInstanceNorm(spec: NetworkSpec): Set<string> {
  const out = new Set<string>();
  const walk = (layers: Layer[]) =>
    layers.forEach((l, i) => {
      if ((l.op === 'conv' || l.op === 'convTranspose') && l.bias && layers[i + 1]?.op === 'instanceNorm')
        out.add(`${l.name}.bias`);
      if (l.op === 'residual' || l.op === 'skipConcat') walk(l.body);
    });
  walk(spec.layers);
  return out;
}
