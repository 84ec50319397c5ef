/**
 * The generator-gradient exchange of the two training workers. Each worker writes the gradient of
 * its side's part of loss_G into its own SharedArrayBuffer (parameters in one fixed order), stamps
 * it with the iteration, and once the coordinator has seen both stamped, reads the other's. Both
 * then add the same two float32 arrays — IEEE addition commutes, so both get the same bits. The
 * tfjs workers then take the same Adam step, which keeps their generator copies identical; the
 * onnxruntime workers update only their own generator each (half the work and memory) and pass
 * the updated weights through a second pair of buffers.
 */
import { generatorSpec, paramSpecs } from '../../core/arch/spec';
import { numel } from '../../core/arch/stateDict';
import { generatorOptions, SIDE, type ModelOptions, type Side } from '../model/cycleGan';

/** Trainable generator parameters as keyed by CycleGanModel.trainableParams(['G_A', 'G_B']), in its order. */
export type GradientLayout = { key: string; size: number }[];

export interface ExchangeBuffers {
  gradients: Record<Side, SharedArrayBuffer>;
  /**
   * Each side's generator (G_A for side A) after that side's update, where each worker updates only
   * its own generator (the onnxruntime workers): the other worker copies it before its next step.
   */
  weights?: Record<Side, SharedArrayBuffer>;
  /** Int32 per buffer: the iteration it holds (gradients A, B, weights A, B). */
  stamps: SharedArrayBuffer;
}

const OTHER: Record<Side, Side> = { A: 'B', B: 'A' };
const STAMP_INDEX = { gradients: { A: 0, B: 1 }, weights: { A: 2, B: 3 } } as const;

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

/** The part of `layout` that is side `side`'s own generator (G_A for side A). */
export function ownGenerator(layout: GradientLayout, side: Side): GradientLayout {
  return layout.filter((p) => p.key.startsWith(`${SIDE[side].G}.`));
}

const bytesOf = (layout: GradientLayout) => 4 * layout.reduce((a, p) => a + p.size, 0);

/** Shared buffers for `layout`; `weights` too where each worker updates only its own generator. */
export function allocateExchange(layout: GradientLayout, weights = false): ExchangeBuffers {
  const pair = (bytes: (side: Side) => number) => ({
    A: new SharedArrayBuffer(bytes('A')),
    B: new SharedArrayBuffer(bytes('B')),
  });
  return {
    gradients: pair(() => bytesOf(layout)),
    ...(weights && { weights: pair((side) => bytesOf(ownGenerator(layout, side))) }),
    stamps: new SharedArrayBuffer(4 * 4),
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

function checkStamp(buffers: ExchangeBuffers, what: 'gradients' | 'weights', side: Side, iteration: number): void {
  // Atomics.load also orders the buffer reads after the other thread's writes (its stamp is an Atomics.store).
  const stamp = Atomics.load(new Int32Array(buffers.stamps), STAMP_INDEX[what][side]);
  if (stamp !== iteration) {
    throw new Error(`${what} exchange out of step: side ${side} holds iteration ${stamp}, expected ${iteration}`);
  }
}

/** Writes `values` into the views `own`: one value of its size for every view. */
function write(own: Map<string, Float32Array>, values: ReadonlyMap<string, ArrayLike<number>>): void {
  for (const [key, dest] of own) {
    const v = values.get(key);
    if (!v || v.length !== dest.length) throw new Error(`exchange: no value of size ${dest.length} for ${key}`);
    dest.set(v);
  }
}

/** One worker's end of the exchange. */
export class GradientExchange {
  private readonly grads: Record<'own' | 'other', Map<string, Float32Array>>;
  private readonly weights?: Record<'own' | 'other', Map<string, Float32Array>>;

  constructor(
    layout: GradientLayout,
    private readonly buffers: ExchangeBuffers,
    private readonly side: Side,
  ) {
    const other = OTHER[side];
    this.grads = { own: views(layout, buffers.gradients[side]), other: views(layout, buffers.gradients[other]) };
    if (buffers.weights)
      this.weights = {
        own: views(ownGenerator(layout, side), buffers.weights[side]),
        other: views(ownGenerator(layout, other), buffers.weights[other]),
      };
  }

  /** Writes this side's gradients (every key of the layout) and stamps them. */
  publish(grads: ReadonlyMap<string, ArrayLike<number>>, iteration: number): void {
    write(this.grads.own, grads);
    this.stamp('gradients', iteration);
  }

  /** The other side's gradients of `iteration` (of `keys`, default all), as private copies (kernels may not read shared memory). */
  other(iteration: number, keys: Iterable<string> = this.grads.other.keys()): Map<string, Float32Array> {
    checkStamp(this.buffers, 'gradients', OTHER[this.side], iteration);
    return new Map([...keys].map((key) => [key, this.grads.other.get(key)!.slice()]));
  }

  /** Writes this side's generator after its update in `iteration` and stamps it. */
  publishWeights(values: ReadonlyMap<string, ArrayLike<number>>, iteration: number): void {
    if (!this.weights) throw new Error('this exchange has no weight buffers');
    write(this.weights.own, values);
    this.stamp('weights', iteration);
  }

  /** The other side's generator after its update in `iteration`, as private copies. */
  otherWeights(iteration: number): Map<string, Float32Array> {
    if (!this.weights) throw new Error('this exchange has no weight buffers');
    checkStamp(this.buffers, 'weights', OTHER[this.side], iteration);
    return new Map([...this.weights.other].map(([key, v]) => [key, v.slice()]));
  }

  private stamp(what: 'gradients' | 'weights', iteration: number): void {
    Atomics.store(new Int32Array(this.buffers.stamps), STAMP_INDEX[what][this.side], iteration);
  }
}

/** The summed gradient of `iteration` as the workers computed it (float32 addition), for checks. */
export function gradientSum(
  layout: GradientLayout,
  buffers: ExchangeBuffers,
  iteration: number,
): Map<string, Float32Array> {
  checkStamp(buffers, 'gradients', 'A', iteration);
  checkStamp(buffers, 'gradients', 'B', iteration);
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
