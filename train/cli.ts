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
import { trainCommand } from './commands';

async function main(opts: TrainOptions): Promise<number> {
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  // Data problems (missing or empty folders) are reported before any work starts.
  const data = await openTrainData(opts, log);
  await initBackend(opts.backend, log);

  const bar = new SingleBar(
    {
      format: 'epoch {epoch}/{last} |{bar}| {value}/{total} it | {speed} it/s | ETA {eta_formatted} | {losses}',
      hideCursor: true,
      etaBuffer: 20,
      // Progress redraws only make sense on a terminal; logs stay clean otherwise.
      noTTYOutput: false,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  const interactive = process.stderr.isTTY === true;
  let started = 0;
  const trainer = new Trainer(opts, data, {
    log: (msg) => {
      if (interactive && bar.isActive) bar.stop();
      log(msg);
    },
    onEpochStart: (epoch, last, total, startIter) => {
      started = performance.now();
      if (interactive) bar.start(total, startIter, { epoch, last, speed: '-', losses: '' });
    },
    onIteration: (p) => {
      if (!interactive) return;
      if (!bar.isActive) bar.start(p.itersPerEpoch, p.epochIter, { epoch: p.epoch, last: '', speed: '-', losses: '' });
      const secs = (performance.now() - started) / 1000;
      const l = p.losses;
      bar.update(p.epochIter, {
        speed: (p.epochIter / Math.max(secs, 1e-6)).toFixed(2),
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
