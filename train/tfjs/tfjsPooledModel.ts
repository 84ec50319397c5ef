/**
 * What one thread holds of a training model: a CycleGanModel of some sides, with the image pools
 * of those sides' fakes and each pool's own random stream. The single-thread trainer holds both
 * sides; a parallel worker holds one.
 */
import { Rng } from '../../core/rng';
import { CycleGanModel } from './cycleGanModel';
import { sidePool, type FakeImagePool, type PoolName, type Side } from '../model/cycleGan';
import { ImagePool } from '../model/imagePool';
import type { ModelState, PartialModelState, TrainingModelOptions } from '../model/modelState';

export class TfjsPooledModel {
  readonly model: CycleGanModel;
  private readonly pools: Partial<Record<PoolName, ImagePool>> = {};
  private readonly streams: Partial<Record<PoolName, Rng>> = {};

  constructor(
    private readonly opts: TrainingModelOptions,
    sides: readonly Side[],
    state: ModelState,
  ) {
    const bound: Partial<Record<PoolName, FakeImagePool>> = {};
    for (const side of sides) {
      const p = sidePool(side);
      bound[p] = {
        query: (batch, shape) => this.pools[p]!.queryWithShape(batch, shape, this.streams[p]!),
        passThrough: opts.pool_size === 0,
      };
    }
    this.model = new CycleGanModel(opts, { weights: state.nets }, bound, sides);
    this.importState(state);
  }

  private get poolNames(): PoolName[] {
    return this.model.sides.map((s) => sidePool(s));
  }

  /** Loads the parts of `state` this replica holds (weights, optimisers, pools, streams, counters). */
  importState(state: ModelState): void {
    this.model.importState(state);
    this.model.learningRate = state.lr;
    for (const p of this.poolNames) {
      this.pools[p] = ImagePool.fromState(this.opts.pool_size, state.pools[p].images);
      this.streams[p] = Rng.fromState(state.poolRng[p]);
    }
  }

  /** The parts of the model state this replica holds. */
  async exportState(): Promise<PartialModelState> {
    const s = await this.model.exportState();
    const out: PartialModelState = { ...s, pools: {}, poolRng: {}, lr: this.model.learningRate };
    for (const p of this.poolNames) {
      out.pools[p] = this.pools[p]!.contents();
      out.poolRng[p] = this.streams[p]!.state();
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}
