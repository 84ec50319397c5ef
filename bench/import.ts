/**
 * `npm run import` of a full-size official-layout generator (resnet_9blocks, ngf 64, 11.4 M
 * parameters, 45 MB), as JSON on stdout. The checkpoint is synthesised (tools/writePth.ts) in the
 * legacy format of the official pretrained models and in the zip format, so no Python is needed.
 *   read_ms   reading + unpickling + matching to the spec, in process (median of --reps)
 *   cli_s     wall time of the whole command with its defaults (process start, read, ONNX build,
 *             verification against the float64 reference at 32×32 and 16×32, atomic write)
 *
 *   node --import tsx bench/import.ts [--reps 3] [--reference float64|tfjs] [--verify_size 32]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { generatorSpec, paramSpecs, type GeneratorOptions } from '../core/arch/spec';
import type { NamedTensor } from '../core/arch/stateDict';
import { fitGenerator } from '../core/pth/officialCheckpoint';
import { readPthFile } from '../core/pth/readPth';
import { Rng } from '../core/rng';
import { encodePth } from '../tools/writePth';

const FULL: GeneratorOptions = {
  netG: 'resnet_9blocks',
  inputNc: 3,
  outputNc: 3,
  ngf: 64,
  norm: 'instance',
  useDropout: false,
};

/** Official init (normal(0, 0.02) weights, zero biases), plus the pre-0.4 InstanceNorm buffers the zoo files carry. */
function officialStateDict(): Map<string, NamedTensor> {
  const rng = new Rng(1);
  const sd = new Map<string, NamedTensor>();
  for (const p of paramSpecs(generatorSpec(FULL))) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (p.role !== 'bias') for (let i = 0; i < n; i++) data[i] = 0.02 * rng.normal();
    sd.set(p.key, { shape: p.shape, data });
  }
  return sd;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const benchImportSchema = z
  .object({
    reps: field.int(1).default(3).describe('timed reads per format (median)'),
    reference: field.enum(['float64', 'tfjs']).default('float64').describe('verification reference for the CLI runs'),
    verify_size: field.int(1).default(32).describe('verification input side for the CLI runs'),
  })
  .strict();

async function main(o: z.output<typeof benchImportSchema>) {
  const root = mkdtempSync(path.join(tmpdir(), 'bench-import-'));
  try {
    const sd = officialStateDict();
    const params = [...sd.values()].reduce((a, t) => a + t.data.length, 0);
    const rows = [];
    for (const format of ['legacy', 'zip'] as const) {
      const file = path.join(root, `${format}_latest_net_G.pth`);
      writeFileSync(file, encodePth(sd, { format }));
      const reads: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const t0 = performance.now();
        const { tensors } = await readPthFile(file);
        fitGenerator(tensors, FULL, file);
        reads.push(performance.now() - t0);
      }
      const t0 = performance.now();
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(__dirname, '..', 'export', 'importCli.ts'),
          ...['--pth', file, '--name', 'bench', '--out', path.join(root, `model_${format}`)],
          ...['--reference', o.reference, '--verify_size', String(o.verify_size), '--quiet'],
        ],
        { encoding: 'utf8' },
      );
      const cliS = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(`npm run import failed: ${r.stderr.trim()}`);
      const row = {
        format,
        netG: FULL.netG,
        ngf: FULL.ngf,
        parameters: params,
        file_mb: +(statSync(file).size / 1e6).toFixed(1),
        read_ms: +median(reads).toFixed(0),
        cli_s: +cliS.toFixed(1),
        reference: o.reference,
        verify_size: o.verify_size,
      };
      process.stderr.write(`${JSON.stringify(row)}\n`);
      rows.push(row);
    }
    console.log(JSON.stringify(rows, null, 2));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

runCommand(
  {
    name: 'bench/import',
    program: 'npx tsx bench/import.ts',
    summary:
      'npm run import of a full-size resnet_9blocks .pth, legacy and zip: read time and CLI wall time; prints JSON.',
    schema: benchImportSchema,
  },
  main,
);
