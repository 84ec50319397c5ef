import {
  parseTestOptions,
  parseTrainOptions,
  testOptionsShape,
  trainOptionsShape,
  type TrainOptions,
} from '../../train/trainOptions';
import { HelpRequested, helpText, kebabAlias, parseCommandLine } from '../../core/cli/command';
import { testCommand, trainCommand } from '../../train/commands';

const parseTrainArgvDetailed = (argv: string[]) => parseCommandLine(trainCommand, argv);
const parseTrainArgv = (argv: string[]) => parseTrainArgvDetailed(argv).options;
const parseTestArgv = (argv: string[]) => parseCommandLine(testCommand, argv).options;

/** The official CycleGAN defaults (base_options, train_options, cycle_gan_model), plus ours. */
const OFFICIAL_DEFAULTS: Omit<TrainOptions, 'dataroot'> = {
  name: 'experiment_name',
  checkpoints_dir: './checkpoints',
  input_nc: 3,
  output_nc: 3,
  ngf: 64,
  ndf: 64,
  netD: 'basic',
  netG: 'resnet_9blocks',
  n_layers_D: 3,
  norm: 'instance',
  init_type: 'normal',
  init_gain: 0.02,
  no_dropout: true,
  direction: 'AtoB',
  serial_batches: false,
  num_threads: 4,
  batch_size: 1,
  load_size: 286,
  crop_size: 256,
  max_dataset_size: Infinity,
  preprocess: 'resize_and_crop',
  no_flip: false,
  display_freq: 400,
  print_freq: 100,
  save_latest_freq: 5000,
  save_epoch_freq: 5,
  continue_train: false,
  epoch: 'latest',
  epoch_count: 1,
  n_epochs: 100,
  n_epochs_decay: 100,
  beta1: 0.5,
  lr: 0.0002,
  gan_mode: 'lsgan',
  pool_size: 50,
  lr_policy: 'linear',
  lr_decay_iters: 50,
  lambda_A: 10,
  lambda_B: 10,
  lambda_identity: 0.5,
  backend: 'auto',
  engine: 'auto',
  device: 'auto',
  workers: 'auto',
};

/** Parses and returns the error message (fails the test if parsing succeeds). */
function errorOf(argv: string[]): string {
  try {
    parseTrainArgv(argv);
  } catch (e) {
    expect(e).not.toBeInstanceOf(HelpRequested);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error(`expected ${argv.join(' ')} to be rejected`);
}

const D = ['--dataroot', 'data/x'];

describe('train options schema', () => {
  it('has exactly the official option names (plus seed, backend, engine, threads, workers, max_iters, from_pth) with the official defaults', () => {
    const opts = parseTrainArgv(D);
    expect(opts).toEqual({ dataroot: 'data/x', ...OFFICIAL_DEFAULTS });
    expect(Object.keys(trainOptionsShape).sort()).toEqual(
      [...Object.keys(OFFICIAL_DEFAULTS), 'dataroot', 'seed', 'threads', 'max_iters', 'from_pth'].sort(),
    );
    expect(opts.seed).toBeUndefined();
    expect(opts.threads).toBeUndefined(); // every core, decided where training starts
    expect(opts.max_iters).toBeUndefined();
    expect(opts.from_pth).toBeUndefined();
  });

  it("--workers takes 1, 2 or 'auto' (the default)", () => {
    expect(parseTrainArgv([...D, '--workers', 'auto']).workers).toBe('auto');
    expect(parseTrainArgv([...D, '--workers', '2']).workers).toBe(2);
    expect(parseTrainArgv([...D, '--workers', '1']).workers).toBe(1);
    expect(errorOf([...D, '--workers', '3'])).toMatch(/workers/);
    expect(errorOf([...D, '--workers', 'many'])).toMatch(/workers/);
  });

  it('--engine takes auto (the default), onnxruntime or tfjs; --threads a positive integer', () => {
    expect(parseTrainArgv([...D, '--engine', 'onnxruntime']).engine).toBe('onnxruntime');
    expect(parseTrainArgv([...D, '--engine', 'tfjs']).engine).toBe('tfjs');
    expect(errorOf([...D, '--engine', 'torch'])).toBe('--engine: expected one of auto, onnxruntime, tfjs, got "torch"');
    expect(parseTrainArgv([...D, '--threads', '3']).threads).toBe(3);
    expect(errorOf([...D, '--threads', '0'])).toMatch(/^--threads: expected a positive integer/);
    expect(errorOf([...D, '--threads', 'all'])).toMatch(/^--threads: expected a positive integer/);
  });

  it('gives every field a description', () => {
    for (const [key, field] of [...Object.entries(trainOptionsShape), ...Object.entries(testOptionsShape)]) {
      expect([key, field.description?.length ?? 0]).toEqual([key, expect.any(Number)]);
      expect(field.description!.length).toBeGreaterThan(5);
    }
  });

  it('parses typed values from JSON and round-trips through JSON (Infinity included)', () => {
    const opts = parseTrainOptions({ dataroot: 'd', crop_size: 128, load_size: 143, no_flip: true, seed: 5 });
    expect(opts.crop_size).toBe(128);
    expect(opts.no_flip).toBe(true);
    const again = parseTrainOptions(JSON.parse(JSON.stringify(opts)));
    expect(again).toEqual(opts);
    expect(again.max_dataset_size).toBe(Infinity);
  });

  it('rejects unknown keys and non-objects', () => {
    expect(() => parseTrainOptions({ dataroot: 'd', cropsize: 3 })).toThrow('unknown option --cropsize');
    expect(() => parseTrainOptions(null)).toThrow('options must be an object');
    expect(() => parseTrainOptions({})).toThrow('--dataroot is required');
  });
});

describe('parseTrainArgv', () => {
  it('accepts the official spellings', () => {
    const o = parseTrainArgv([
      ...D,
      '--n_layers_D',
      '4',
      '--netD',
      'n_layers',
      '--netG',
      'resnet_6blocks',
      '--lambda_A',
      '5',
      '--lambda_B',
      '7.5',
      '--lambda_identity',
      '0',
      '--crop_size',
      '128',
      '--load_size',
      '142',
      '--max_dataset_size',
      '10',
      '--lr_policy',
      'step',
      '--gan_mode',
      'vanilla',
      '--epoch',
      '15',
      '--seed',
      '3',
      '--max_iters',
      '20',
      '--backend',
      'wasm',
    ]);
    expect(o).toMatchObject({
      n_layers_D: 4,
      netD: 'n_layers',
      netG: 'resnet_6blocks',
      lambda_A: 5,
      lambda_B: 7.5,
      lambda_identity: 0,
      crop_size: 128,
      load_size: 142,
      max_dataset_size: 10,
      lr_policy: 'step',
      gan_mode: 'vanilla',
      epoch: '15',
      seed: 3,
      max_iters: 20,
      backend: 'wasm',
    });
  });

  it('accepts kebab-case spellings and --flag=value', () => {
    expect(kebabAlias('n_layers_D')).toBe('n-layers-d');
    expect(kebabAlias('netG')).toBe('net-g');
    expect(kebabAlias('lr')).toBeNull();
    const o = parseTrainArgv([
      '--dataroot=data/y',
      '--crop-size',
      '64',
      '--load-size=72',
      '--lambda-a',
      '3',
      '--n-layers-d',
      '2',
      '--net-g',
      'unet_128',
      '--no-flip',
      '--serial-batches',
      '--lambda-identity',
      '0',
      '--crop_size',
      '128',
      '--load_size',
      '128',
    ]);
    expect(o).toMatchObject({
      dataroot: 'data/y',
      crop_size: 128, // the later flag wins, whatever its spelling
      load_size: 128,
      lambda_A: 3,
      n_layers_D: 2,
      netG: 'unet_128',
      no_flip: true,
      serial_batches: true,
    });
  });

  it('treats booleans as presence flags; --flag=false sets false', () => {
    const o = parseTrainArgv([...D, '--no_flip', '--continue_train', '--serial_batches', '--lr', '0.001']);
    expect([o.no_flip, o.continue_train, o.serial_batches, o.lr]).toEqual([true, true, true, 0.001]);
    expect(parseTrainArgv([...D, '--no_dropout=false']).no_dropout).toBe(false);
    expect(parseTrainArgv([...D, '--no_dropout']).no_dropout).toBe(true);
    expect(parseTrainArgv(D).no_flip).toBe(false);
  });

  it('does not read an option value as a flag', () => {
    expect(parseTrainArgv([...D, '--name', '--crop-size']).name).toBe('--crop-size');
  });

  it('reports which flags were given', () => {
    const r = parseTrainArgvDetailed([...D, '--crop-size', '128', '--no_flip']);
    expect(r.given.sort()).toEqual(['crop_size', 'dataroot', 'no_flip']);
  });

  it.each([
    [['--crop_size', 'abc'], '--crop_size: expected a positive integer, got "abc"'],
    [['--crop_size', '0'], '--crop_size: expected a positive integer, got "0"'],
    [['--crop_size', '12.5'], '--crop_size: expected a positive integer, got "12.5"'],
    [['--num_threads', '-1'], '--num_threads: expected a non-negative integer, got "-1"'],
    [['--lr', '-0.1'], '--lr: expected a number > 0, got "-0.1"'],
    [['--beta1', '1'], '--beta1: expected a number in [0, 1), got "1"'],
    [['--lambda_A', 'x'], '--lambda_A: expected a number >= 0, got "x"'],
    [['--norm', 'layer'], '--norm: expected one of instance, batch, none, got "layer"'],
    [
      ['--preprocess', 'zoom'],
      '--preprocess: expected one of resize_and_crop, crop, scale_width, scale_width_and_crop, none, got "zoom"',
    ],
    [
      ['--netG', 'resnet_xblocks'],
      '--netG: expected resnet_<n>blocks (e.g. resnet_9blocks, resnet_6blocks), unet_256 or unet_128, got "resnet_xblocks"',
    ],
    [['--input_nc', '2'], '--input_nc: expected 1 or 3, got "2"'],
    [['--no_flip', 'maybe'], '--no_flip: expected true or false, got "maybe"'],
    [['--epoch', 'best'], '--epoch: expected \'latest\' or an epoch number, got "best"'],
    [['--name', 'a/b'], '--name: expected a plain name without path separators, got "a/b"'],
    [['--max_dataset_size', 'lots'], '--max_dataset_size: expected a positive integer or inf, got "lots"'],
    [['--direction', 'AB'], '--direction: expected one of AtoB, BtoA, got "AB"'],
  ])('rejects %j with one line naming the flag', (args, message) => {
    expect(errorOf([...D, ...args])).toBe(message);
  });

  it('explains wgangp, plateau and the old lambda policy name', () => {
    expect(errorOf([...D, '--gan_mode', 'wgangp'])).toMatch(
      /^--gan_mode: expected lsgan or vanilla, got "wgangp" \(wgangp is not supported/,
    );
    expect(errorOf([...D, '--lr_policy', 'plateau'])).toMatch(
      /^--lr_policy: expected linear, step or cosine, got "plateau" \(plateau needs/,
    );
    expect(errorOf([...D, '--lr_policy', 'lambda'])).toMatch(/old name of linear/);
  });

  it('rejects unknown flags, missing values and stray arguments in one line', () => {
    expect(errorOf([...D, '--foo'])).toBe("unknown option '--foo'");
    expect(errorOf([...D, '--crop_sise', '3'])).toMatch(
      /^unknown option '--crop_sise' \(Did you mean --crop_size\?\)$/,
    );
    expect(errorOf([...D, '--crop_size'])).toMatch(/--crop_size .*argument missing/);
    expect(errorOf([...D, 'extra'])).toMatch(/too many arguments/);
    expect(errorOf(['--crop_size', '3'])).toBe('--dataroot is required');
  });

  it('checks options against each other', () => {
    expect(errorOf([...D, '--crop_size', '300'])).toBe(
      '--crop_size (300) must not exceed --load_size (286) with --preprocess resize_and_crop',
    );
    expect(() => parseTrainArgv([...D, '--crop_size', '300', '--preprocess', 'crop'])).not.toThrow();
    expect(errorOf([...D, '--crop_size', '250'])).toBe(
      '--crop_size (250) must be a multiple of 4 for --netG resnet_9blocks (it halves the image 2 times)',
    );
    expect(errorOf([...D, '--netG', 'unet_256', '--crop_size', '128'])).toMatch(/multiple of 256 for --netG unet_256/);
    expect(errorOf([...D, '--netG', 'unet_128', '--preprocess', 'none'])).toMatch(
      /--preprocess none only rounds image sides to multiples of 4, but --netG unet_128 needs multiples of 128/,
    );
    expect(errorOf([...D, '--preprocess', 'scale_width', '--load_size', '288', '--batch_size', '2'])).toMatch(
      /^--batch_size 2 needs equally sized images/,
    );
    expect(errorOf([...D, '--preprocess', 'scale_width', '--load_size', '290'])).toMatch(
      /^--load_size \(290\) must be a multiple of 4/,
    );
    expect(errorOf([...D, '--input_nc', '1'])).toMatch(/^--lambda_identity must be 0 when --input_nc \(1\) differs/);
    expect(parseTrainArgv([...D, '--input_nc', '1', '--lambda_identity', '0']).input_nc).toBe(1);
    expect(errorOf([...D, '--epoch_count', '201'])).toMatch(/^--epoch_count \(201\) is past the last epoch .* 200/);
    expect(errorOf([...D, '--lr_policy', 'cosine', '--n_epochs', '0'])).toMatch(/cosine needs --n_epochs >= 1/);
  });
});

describe('--help', () => {
  it('lists every flag with its description and default', () => {
    let text = '';
    try {
      parseTrainArgv(['--help']);
    } catch (e) {
      expect(e).toBeInstanceOf(HelpRequested);
      text = (e as HelpRequested).text;
    }
    expect(text).toBe(helpText(trainCommand));
    const flat = text.replace(/\s+/g, ' ');
    for (const [key, field] of Object.entries(trainOptionsShape)) {
      expect(flat).toContain(`--${key} `);
      const firstWords = field.description!.split(' ').slice(0, 3).join(' ');
      expect(flat).toContain(firstWords);
    }
    for (const [key, value] of Object.entries(OFFICIAL_DEFAULTS)) {
      // Switches read as presence flags: off by default says nothing, on by default says so in words.
      if (typeof value === 'boolean') {
        const note = new RegExp(`--${key} [^]*?\\(on by default\\)`).test(
          flat.split(/ --(?=\w)/).find((s) => s.startsWith(`${key} `))
            ? `--${flat.split(/ --(?=\w)/).find((s) => s.startsWith(`${key} `))}`
            : '',
        );
        expect([key, note]).toEqual([key, value]);
        continue;
      }
      const shown = value === Infinity ? 'inf' : String(value);
      expect([key, new RegExp(`--${key} [^]*?\\(default: ${shown.replace(/[.]/g, '\\.')}\\)`).test(flat)]).toEqual([
        key,
        true,
      ]);
    }
    expect(flat).toMatch(/--dataroot <str> .*\(required\)/);
    expect(flat).toMatch(/^Usage: npm run train -- --dataroot <str> \[options\]/);
    expect(flat).not.toMatch(/default: (true|false)/);
    expect(flat).toContain('--no_dropout leave dropout out of the generator');
    expect(flat).toContain('Exit status: 0 done, 1 failed, 2 bad command line, 130 interrupted');
    expect(flat).toContain('(one of: resize_and_crop, crop, scale_width, scale_width_and_crop, none)');
    expect(flat).toContain('kebab-case');
  });

  it('is triggered by -h anywhere, even with invalid values around it', () => {
    expect(() => parseTrainArgv(['-h'])).toThrow(HelpRequested);
    expect(() => parseTestArgv(['--crop_size', 'x', '--help'])).toThrow(HelpRequested);
  });
});

describe('test options', () => {
  it('has the official test defaults (load_size = crop_size so nothing is cropped)', () => {
    expect(parseTestArgv(['--dataroot', 'd'])).toEqual({
      dataroot: 'd',
      name: 'experiment_name',
      checkpoints_dir: './checkpoints',
      epoch: 'latest',
      num_test: 50,
      results_dir: './results/',
      preprocess: 'resize_and_crop',
      load_size: 256,
      crop_size: 256,
      direction: 'AtoB',
      backend: 'auto',
    });
  });

  it('uses the same validation and messages', () => {
    expect(parseTestArgv(['--dataroot', 'd', '--num-test', '3', '--direction', 'BtoA'])).toMatchObject({
      num_test: 3,
      direction: 'BtoA',
    });
    expect(() => parseTestArgv(['--dataroot', 'd', '--num_test', '0'])).toThrow(
      '--num_test: expected a positive integer or inf, got "0"',
    );
    expect(() => parseTestArgv(['--dataroot', 'd', '--crop_size', '300'])).toThrow(
      /must not exceed --load_size \(256\)/,
    );
    expect(() => parseTestArgv(['--dataroot', 'd', '--no_flip'])).toThrow("unknown option '--no_flip'");
    expect(() => parseTestOptions({ dataroot: 'd', lr: 1 })).toThrow('unknown option --lr');
  });
});
