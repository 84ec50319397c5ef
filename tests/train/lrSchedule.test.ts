import * as fs from 'node:fs';
import * as path from 'node:path';
import { learningRate, type LrOptions } from '../../train/lrSchedule';

/** Written by tools/make_data_fixtures.py with PyTorch's LambdaLR / StepLR / CosineAnnealingLR. */
interface Fixture {
  torch: string;
  cases: { options: LrOptions; epochs: number[]; lr: number[] }[];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'data', 'lr_schedules.json'), 'utf8'),
) as Fixture;

describe('learningRate', () => {
  it.each(fixture.cases.map((c) => [`${c.options.lr_policy} ${JSON.stringify(c.options)}`, c] as const))(
    'matches PyTorch for %s',
    (_label, c) => {
      expect(c.epochs[0]).toBe(c.options.epoch_count);
      expect(c.epochs[c.epochs.length - 1]).toBe(c.options.n_epochs + c.options.n_epochs_decay);
      const ours = c.epochs.map((e) => learningRate(c.options, e));
      if (c.options.lr_policy === 'cosine') {
        // libm and V8 may differ in the last bit of cos(); allow a few ulps of the base rate.
        ours.forEach((v, i) => expect(Math.abs(v - c.lr[i])).toBeLessThanOrEqual(c.options.lr * 1e-14));
      } else {
        expect(ours).toEqual(c.lr);
      }
    },
  );

  it('keeps the official indexing: the default run decays from epoch 100 and trains epoch 200 at 0', () => {
    const o: LrOptions = {
      lr: 0.0002,
      lr_policy: 'linear',
      n_epochs: 100,
      n_epochs_decay: 100,
      epoch_count: 1,
      lr_decay_iters: 50,
    };
    expect(learningRate(o, 1)).toBe(0.0002);
    expect(learningRate(o, 99)).toBe(0.0002);
    expect(learningRate(o, 100)).toBeCloseTo(0.0002 * (1 - 1 / 101), 15);
    expect(learningRate(o, 200)).toBe(0);
    // Resuming by hand with --epoch_count gives the rates the uninterrupted run had.
    for (const e of [151, 170, 200]) expect(learningRate({ ...o, epoch_count: 151 }, e)).toBe(learningRate(o, e));
  });

  it('rejects epochs before epoch_count', () => {
    const o: LrOptions = {
      lr: 1,
      lr_policy: 'step',
      n_epochs: 1,
      n_epochs_decay: 1,
      epoch_count: 3,
      lr_decay_iters: 1,
    };
    expect(() => learningRate(o, 2)).toThrow(/epoch must be an integer >= epoch_count 3/);
    expect(() => learningRate(o, 3.5)).toThrow();
  });
});
