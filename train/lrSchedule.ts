/**
 * The official learning-rate schedules (models/networks.py get_scheduler) as a pure function of the
 * epoch, so a resumed run needs no scheduler state.
 *
 * Indexing, as the official train.py drives it: the scheduler is built with last_epoch = 0, and
 * `model.update_learning_rate()` (one `scheduler.step()`) runs at the START of every epoch of
 * `for epoch in range(epoch_count, n_epochs + n_epochs_decay + 1)`. So during epoch `e` the
 * scheduler has stepped k = e - epoch_count + 1 times, and
 *   linear: lr * (1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1))
 *           = lr * (1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1))
 *           i.e. with the defaults: 0.0002 through epoch 99, decaying from epoch 100, 0 in epoch 200;
 *   step:   StepLR(step_size = lr_decay_iters, gamma = 0.1) after k steps;
 *   cosine: CosineAnnealingLR(T_max = n_epochs, eta_min = 0) after k steps (it rises again past
 *           T_max, as PyTorch's does).
 * step and cosine are computed with PyTorch's recursive update so values match it to the last bits;
 * tests compare against tables produced by PyTorch's own schedulers.
 */
import type { TrainOptions } from './trainOptions';

export type LrOptions = Pick<
  TrainOptions,
  'lr' | 'lr_policy' | 'n_epochs' | 'n_epochs_decay' | 'epoch_count' | 'lr_decay_iters'
>;

/** Learning rate in effect during training epoch `epoch` (official 1-based numbering, >= epoch_count). */
export function learningRate(o: LrOptions, epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < o.epoch_count) {
    throw new Error(`learningRate: epoch must be an integer >= epoch_count ${o.epoch_count} (got ${epoch})`);
  }
  const k = epoch - o.epoch_count + 1;
  switch (o.lr_policy) {
    case 'linear':
      return o.lr * (1.0 - Math.max(0, k + o.epoch_count - o.n_epochs) / (o.n_epochs_decay + 1));
    case 'step': {
      let lr = o.lr;
      for (let i = 1; i <= k; i++) if (i % o.lr_decay_iters === 0) lr *= 0.1;
      return lr;
    }
    case 'cosine': {
      const T = o.n_epochs;
      if (T < 1) throw new Error('--lr_policy cosine needs --n_epochs >= 1 (it is the cosine period)');
      let lr = o.lr;
      for (let i = 1; i <= k; i++) {
        if ((i - 1 - T) % (2 * T) === 0) lr = lr + (o.lr * (1 - Math.cos(Math.PI / T))) / 2;
        else lr = ((1 + Math.cos((Math.PI * i) / T)) / (1 + Math.cos((Math.PI * (i - 1)) / T))) * lr;
      }
      return lr;
    }
  }
}
