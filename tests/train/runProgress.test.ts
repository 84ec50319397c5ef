import { formatDuration, RunProgress, runIterations } from '../../train/runProgress';

describe('runIterations', () => {
  test('every epoch from epoch_count to n_epochs + n_epochs_decay, or --max_iters if smaller', () => {
    const o = { n_epochs: 4, n_epochs_decay: 4, epoch_count: 1, max_iters: undefined };
    expect(runIterations(o, 922)).toBe(8 * 922);
    expect(runIterations({ ...o, epoch_count: 3 }, 922)).toBe(6 * 922);
    expect(runIterations({ ...o, max_iters: 300 }, 922)).toBe(300);
  });
});

describe('RunProgress', () => {
  test('the ETA covers the rest of the whole run, not of one epoch', () => {
    const p = new RunProgress(8 * 100);
    p.update(1, 0);
    // 100 iterations in 10 s after the first: 10 it/s; after iteration 101 (epoch 2 begun) 699 remain: 69.9 s
    const r = p.update(101, 10_000);
    expect(r.speed).toBe('10.00');
    expect(r.eta).toBe('1:10');
  });

  test('after a resume the speed counts only this process’s iterations', () => {
    // Resumed at iteration 5000 of the run: 20 iterations in 10 s are 2 it/s, not 5020 / 10.
    const p = new RunProgress(10_000);
    expect(p.update(5001, 0)).toEqual({ speed: '-', eta: '-' });
    const r = p.update(5021, 10_000);
    expect(r.speed).toBe('2.00');
    expect(r.eta).toBe(formatDuration((10_000 - 5021) / 2));
  });

  test('durations', () => {
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Infinity)).toBe('-');
  });
});
