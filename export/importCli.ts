/**
 * `npm run import -- --pth latest_net_G.pth --name horse2zebra [--pth_BtoA FILE] [architecture flags]`
 * `npm run import -- --checkpoints_dir ./checkpoints --name NAME [--epoch latest]`
 *
 * Official PyTorch checkpoints → a model folder that `npm start` and `npm run translate` serve,
 * without Python. Declared through core/cli from `importOptionsSchema` (core/config/options.ts).
 */
import * as path from 'node:path';
import { runCommand, type CommandSpec } from '../core/cli/command';
import { EXIT } from '../core/cli/errors';
import { importOptionsSchema, type ImportOptions } from './importOptions';
import { importPth, runGeneratorFiles } from './importPth';

export const importCommand: CommandSpec<typeof importOptionsSchema> = {
  name: 'import',
  program: 'npm run import --',
  summary:
    'Turn PyTorch CycleGAN generators (official pytorch-CycleGAN-and-pix2pix .pth files, zip or legacy format) ' +
    'into a model folder (AtoB.onnx [, BtoA.onnx], model.json), checked against a reference forward pass.',
  schema: importOptionsSchema,
};

export async function main(o: ImportOptions): Promise<number> {
  const log = o.quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  // tfjs loads only to verify against it.
  const reference =
    o.reference === 'tfjs'
      ? await (await import('./tfjsReference')).openTfjsReference(o.backend, o.quiet ? () => {} : log)
      : {};
  const files = o.pth
    ? { AtoB: o.pth, BtoA: o.pth_BtoA }
    : await runGeneratorFiles(o.checkpoints_dir!, o.name, o.epoch);
  const r = await importPth(files, o.name, o, {
    out: o.out ?? path.join('models', o.name),
    verifySize: o.verify_size,
    log,
    ...reference,
  });
  const dirs = Object.keys(r.manifest.directions).join(' and ');
  console.log(`wrote ${r.out} (${dirs}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return EXIT.ok;
}

if (require.main === module) runCommand(importCommand, main);
