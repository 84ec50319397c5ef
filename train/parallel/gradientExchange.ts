/**
 * The generator-gradient exchange of the two training workers. Each worker writes the gradient of
 * its side's part of loss_G into its own SharedArrayBuffer (parameters in one fixed order), stamps
 * it with the iteration, and once the coordinator has seen both stamped, reads the other's. Both
 * then add the same two float32 arrays — IEEE addition commutes, so both get the same bits — and
 * take the same Adam step, which keeps their generator copies identical.
 */
import { generatorSpec, paramSpecs } from '../../core/arch/spec';
import { numel } from '../../core/arch/stateDict';
import { generatorOptions, type ModelOptions, type Side } from '../cycleGanModel';

/** Trainable generator parameters as keyed by CycleGanModel.trainableParams(['G_A', 'G_B']), in its order. */
export type GradientLayout = { key: string; size: number }[];

export interface ExchangeBuffers {
  gradients: Record<Side, SharedArrayBuffer>;
  /** Int32 per side: the iteration whose gradient that side's buffer holds. */
  stamps: SharedArrayBuffer;
}

const STAMP_INDEX: Record<Side, number> = { A: 0, B: 1 };
const OTHER: Record<Side, Side> = { A: 'B', B: 'A' };

export function generatorGradientLayout(opts: ModelOptions): GradientLayout {
  const out: GradientLayout = [];
  for (const [name, direction] of [
    ['G_A', 'AtoB'],
    ['G_B', 'BtoA'],
  ] as const) {
    for (const p of paramSpecs(generatorSpec(generatorOptions(opts, direction)))) {
      if (p.trainable) out.push({ key: `${name}.${p.key}`, size: numel(p.shape) });
    }
  }
  return out;
}

export function allocateExchange(layout: GradientLayout): ExchangeBuffers {
  const bytes = 4 * layout.reduce((a, p) => a + p.size, 0);
  return {
    gradients: { A: new SharedArrayBuffer(bytes), B: new SharedArrayBuffer(bytes) },
    stamps: new SharedArrayBuffer(4 * 2),
  };
}

function views(layout: GradientLayout, buffer: SharedArrayBuffer): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const p of layout) {
    out.set(p.key, new Float32Array(buffer, 4 * offset, p.size));
    offset += p.size;
  }
  return out;
}

function checkStamp(buffers: ExchangeBuffers, side: Side, iteration: number): void {
  // Atomics.load also orders the buffer reads after the other thread's writes (its stamp is an Atomics.store).
  const stamp = Atomics.load(new Int32Array(buffers.stamps), STAMP_INDEX[side]);
  if (stamp !== iteration) {
    throw new Error(`gradient exchange out of step: side ${side} holds iteration ${stamp}, expected ${iteration}`);
  }
}

/** One worker's end of the exchange. */
export class GradientExchange {
  private readonly own: Map<string, Float32Array>;
  private readonly other_: Map<string, Float32Array>;

  constructor(
    private readonly layout: GradientLayout,
    private readonly buffers: ExchangeBuffers,
    private readonly side: Side,
  ) {
    this.own = views(layout, buffers.gradients[side]);
    this.other_ = views(layout, buffers.gradients[OTHER[side]]);
  }

  /** Writes this side's gradients (every layout key must be present) and stamps them. */
  publish(grads: ReadonlyMap<string, ArrayLike<number>>, iteration: number): void {
    if (grads.size !== this.layout.length) {
      throw new Error(`gradient exchange: ${grads.size} generator gradients, layout has ${this.layout.length}`);
    }
    for (const p of this.layout) {
      const g = grads.get(p.key);
      if (!g || g.length !== p.size) throw new Error(`gradient exchange: no gradient of size ${p.size} for ${p.key}`);
      this.own.get(p.key)!.set(g);
    }
    Atomics.store(new Int32Array(this.buffers.stamps), STAMP_INDEX[this.side], iteration);
  }

  /** The other side's gradients of `iteration`, as private copies (kernels may not read shared memory). */
  other(iteration: number): Map<string, Float32Array> {
    checkStamp(this.buffers, OTHER[this.side], iteration);
    return new Map([...this.other_].map(([key, v]) => [key, v.slice()]));
  }
}

/** The summed gradient of `iteration` as the workers computed it (float32 addition), for checks. */
export function gradientSum(
  layout: GradientLayout,
  buffers: ExchangeBuffers,
  iteration: number,
): Map<string, Float32Array> {
  checkStamp(buffers, 'A', iteration);
  checkStamp(buffers, 'B', iteration);
  const a = views(layout, buffers.gradients.A);
  const b = views(layout, buffers.gradients.B);
  const out = new Map<string, Float32Array>();
  for (const { key } of layout)
    out.set(
      key,
      Float32Array.from(a.get(key)!, (x, i) => x + b.get(key)![i]),
    );
  return out;
}
