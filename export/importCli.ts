/**
 * `npm run import -- --pth latest_net_G.pth --name horse2zebra [--pth_BtoA FILE] [architecture flags]`
 * `npm run import -- --checkpoints_dir ./checkpoints --name NAME [--epoch latest]`
 *
 * Official PyTorch checkpoints → a model folder that `npm start` and `npm run translate` serve,
 * without Python. Flags are generated from `importOptionsSchema` (core/config/options.ts).
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { importOptionsSchema, type ImportOptions } from '../core/config/options';
import { initBackend } from '../core/tf/backend';
import { HelpRequested, parseArgvWith, type CliSpec } from '../train/options/cliOptions';
import { importPth, runGeneratorFiles } from './importPth';
import { tfjsReference } from './tfjsReference';

export const importCli: CliSpec<typeof importOptionsSchema> = {
  program: 'npm run import --',
  summary:
    'Turn PyTorch CycleGAN generators (official pytorch-CycleGAN-and-pix2pix .pth files, zip or legacy format) ' +
    'into a model folder (AtoB.onnx [, BtoA.onnx], model.json), checked against a reference forward pass.',
  schema: importOptionsSchema,
};

/** One line, whatever the error carried. */
function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();
}

export async function main(argv: readonly string[]): Promise<number> {
  let o: ImportOptions;
  try {
    o = parseArgvWith(importCli, argv).options as ImportOptions;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.text);
      return 0;
    }
    console.error(`import: error: ${oneLine(e)}`);
    return 2;
  }
  const log = o.quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  try {
    if (o.reference === 'tfjs') await initBackend(o.backend, o.quiet ? () => {} : log);
    const files = o.pth
      ? { AtoB: o.pth, BtoA: o.pth_BtoA }
      : await runGeneratorFiles(o.checkpoints_dir!, o.name, o.epoch);
    const r = await importPth(files, o.name, o, {
      out: o.out ?? path.join('models', o.name),
      verifySize: o.verify_size,
      log,
      reference: o.reference === 'tfjs' ? tfjsReference : undefined,
      referenceName: o.reference === 'tfjs' ? `cyclegan-ts tfjs generator (${tf.getBackend()} backend)` : undefined,
    });
    const dirs = Object.keys(r.manifest.directions).join(' and ');
    console.log(`wrote ${r.out} (${dirs}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    console.error(`import: error: ${oneLine(e)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(`import: error: ${oneLine(e)}`);
      process.exitCode = 1;
    },
  );
}
