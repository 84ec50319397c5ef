/**
 * core/pth/officialCheckpoint.ts: the official checkpoints' key conventions (DataParallel
 * `module.` prefixes, pre-0.4 InstanceNorm buffers, num_batches_tracked, run-folder file names)
 * and the architecture inference behind the "options that would fit" hint, on PyTorch-written files.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { generatorSpec, paramSpecs, type GeneratorOptions } from '../../../core/arch/spec';
import type { NamedTensor } from '../../../core/arch/stateDict';
import {
  adaptStateDict,
  fitDiscriminator,
  fitGenerator,
  inferGeneratorOptions,
  officialCheckpointFile,
} from '../../../core/pth/officialCheckpoint';
import { readPth } from '../../../core/pth/readPth';
import { loadGolden } from '../../helpers/golden';

const DIR = path.join(__dirname, '..', '..', 'fixtures', 'pth');
const tensors = (file: string) => readPth(readFileSync(path.join(DIR, file)), file).tensors as Map<string, NamedTensor>;

describe.each(['resnet_zip', 'resnet_legacy', 'resnet_fp16', 'unet_dataparallel'])('%s', (name) => {
  const raw = tensors(`${name}.pth`);
  const opts = loadGolden(name, DIR).config.generator as GeneratorOptions;

  it('the architecture is inferred from the tensor shapes, unambiguously', () => {
    expect(inferGeneratorOptions(raw)).toEqual([opts]);
  });

  it('every spec parameter is taken, and nothing else is left over', () => {
    const { weights, problems } = adaptStateDict(generatorSpec(opts), raw);
    expect(problems).toEqual([]);
    expect([...weights.keys()]).toEqual(paramSpecs(generatorSpec(opts)).map((p) => p.key));
  });
});

it('pre-0.4 files: the InstanceNorm running stats are dropped, as the official load_networks does', () => {
  const raw = tensors('resnet_legacy.pth');
  const spec = generatorSpec(loadGolden('resnet_legacy', DIR).config.generator as GeneratorOptions);
  expect(raw.has('model.2.running_mean')).toBe(true);
  expect(raw.has('model.10.conv_block.2.running_var')).toBe(true);
  expect(adaptStateDict(spec, raw).weights.has('model.2.running_mean')).toBe(false);
  // Only at InstanceNorm positions: the same entry anywhere else is reported.
  const stray = new Map(raw).set('model.3.running_mean', { shape: [4], data: new Float32Array(4) });
  expect(adaptStateDict(spec, stray).problems).toEqual(["'model.3.running_mean' unexpected"]);
});

it('DataParallel: module. prefixes are stripped and num_batches_tracked ignored', () => {
  const raw = tensors('unet_dataparallel.pth');
  expect([...raw.keys()].every((k) => k.startsWith('module.'))).toBe(true);
  expect([...raw.keys()].some((k) => k.endsWith('.num_batches_tracked'))).toBe(true);
  const opts = loadGolden('unet_dataparallel', DIR).config.generator as GeneratorOptions;
  const { weights } = fitGenerator(raw, opts, 'unet');
  expect(weights.get('model.model.1.model.2.running_var')!.data).toEqual(
    raw.get('module.model.model.1.model.2.running_var')!.data,
  );
});

describe('weights that do not fit', () => {
  const raw = tensors('resnet_zip.pth');
  const fit = (o: Partial<GeneratorOptions>) => () =>
    fitGenerator(
      raw,
      { netG: 'resnet_9blocks', inputNc: 3, outputNc: 3, ngf: 64, norm: 'instance', useDropout: false, ...o },
      'f.pth',
    );

  it('name the tensors, briefly, and the options that fit', () => {
    expect(fit({})).toThrow(
      /^f\.pth does not fit --netG resnet_9blocks --ngf 64 --norm instance --input_nc 3 --output_nc 3: 'model\.1\.weight' is \[4,3,7,7\], expected \[64,3,7,7\]; .*; … \d+ more; the weights fit --netG resnet_2blocks --ngf 4 --norm instance --input_nc 3 --output_nc 3$/,
    );
    expect(fit({ netG: 'resnet_2blocks', ngf: 4, norm: 'batch' })).toThrow(
      /--norm batch .*: 'model\.2\.weight' missing; .*the weights fit --netG resnet_2blocks --ngf 4 --norm instance/,
    );
    // Dropout shifts the ResNet block indices.
    expect(fit({ netG: 'resnet_2blocks', ngf: 4, useDropout: true })).toThrow(
      /--no_dropout=false: 'model\.10\.conv_block\.6\.weight' missing/,
    );
  });

  it('say so when no supported architecture fits', () => {
    const odd = new Map(raw);
    odd.delete('model.1.weight');
    expect(fit({})).toThrow(/the weights fit/);
    expect(() =>
      fitGenerator(
        odd,
        { netG: 'resnet_2blocks', inputNc: 3, outputNc: 3, ngf: 4, norm: 'instance', useDropout: false },
        'o',
      ),
    ).toThrow(/no supported generator architecture .* fits these weights$/);
  });
});

it('an official run folder: file names and discriminators', () => {
  expect(officialCheckpointFile('ck/run', 'latest', 'D_B')).toBe(path.join('ck', 'run', 'latest_net_D_B.pth'));
  expect(officialCheckpointFile('pre', 'latest', 'G')).toBe(path.join('pre', 'latest_net_G.pth'));
  const g = loadGolden('run', DIR);
  for (const net of ['D_A', 'D_B']) {
    const d = fitDiscriminator(
      tensors(`run/latest_net_${net}.pth`),
      { netD: 'basic', inputNc: 3, ndf: 4, nLayersD: 3, norm: 'instance' },
      net,
    );
    for (const [k, t] of d.weights) expect(t.data).toEqual(g.tensor(`${net}/${k}`).data);
  }
  expect(() =>
    fitDiscriminator(
      tensors('run/latest_net_D_A.pth'),
      { netD: 'basic', inputNc: 3, ndf: 64, nLayersD: 3, norm: 'instance' },
      'D_A',
    ),
  ).toThrow(/^D_A does not fit --netD basic --ndf 64 .*its first conv suggests --ndf 4 --input_nc 3$/);
});
