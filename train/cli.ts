/**
 * `npm run train -- --dataroot ./datasets/horse2zebra --name horse2zebra [official train.py flags]`
 */
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { EXIT } from '../core/cli/errors';
import { runCommand } from '../core/cli/command';
import type { TrainOptions } from './trainOptions';
import { initBackend, releaseBackend } from '../core/tf/backend';
import { openTrainData } from './data/trainDataset';
import { Trainer } from './trainer';
import { RunProgress, runIterations } from './runProgress';
import { trainCommand } from './commands';

async function main(opts: TrainOptions): Promise<number> {
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  // Data problems (missing or empty folders) are reported before any work starts.
  const data = await openTrainData(opts, log);
  await initBackend(opts.backend, log);

  const bar = new SingleBar(
    {
      // value/total and ETA are the whole run's; the speed is this process's own iterations.
      format: 'epoch {epoch}/{last} |{bar}| {value}/{total} it | {speed} it/s | ETA {run_eta} | {losses}',
      hideCursor: true,
      // Progress redraws only make sense on a terminal; logs stay clean otherwise.
      noTTYOutput: false,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  const interactive = process.stderr.isTTY === true;
  let progress: RunProgress | null = null;
  let last = 0;
  const trainer = new Trainer(opts, data, {
    log: (msg) => {
      if (interactive && bar.isActive) bar.stop();
      log(msg);
    },
    onEpochStart: (_epoch, lastEpoch, itersPerEpoch) => {
      last = lastEpoch;
      progress ??= new RunProgress(runIterations(opts, itersPerEpoch));
    },
    onIteration: (p) => {
      if (!interactive || !progress) return;
      const { speed, eta } = progress.update(p.totalIters, performance.now());
      if (!bar.isActive)
        bar.start(progress.total, p.totalIters, { epoch: p.epoch, last, speed, run_eta: eta, losses: '' });
      const l = p.losses;
      bar.update(p.totalIters, {
        epoch: p.epoch,
        speed,
        run_eta: eta,
        // The last logged losses stay on the bar until the next print_freq.
        ...(l && { losses: `G_A ${l.G_A.toFixed(3)} D_A ${l.D_A.toFixed(3)} cyc_A ${l.cycle_A.toFixed(3)}` }),
      });
    },
    onEpochEnd: () => {
      if (bar.isActive) bar.stop();
    },
  });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log(`${sig} again: exiting without saving`);
      process.exit(EXIT.interrupted);
    }
    log(`${sig}: finishing the current iteration and saving 'latest' (press again to abort)`);
    trainer.requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const r = await trainer.run();
  if (bar.isActive) bar.stop();
  releaseBackend(); // a WebGPU device would otherwise outlive training
  const total = r.dataWaitMs + r.stepMs;
  log(
    `done (${r.stoppedBy}): ${r.itersRun} iterations this run, ` +
      `${(r.stepMs / Math.max(1, r.itersRun) / 1000).toFixed(3)} s/iter, ` +
      `${total > 0 ? ((100 * r.dataWaitMs) / total).toFixed(1) : '0'} % waiting for data, ` +
      `${r.skippedImages} unreadable images skipped; report: ${path.join(trainer.runDir, 'report.html')}`,
  );
  return r.stoppedBy === 'signal' ? EXIT.interrupted : EXIT.ok;
}

runCommand(trainCommand, main);
