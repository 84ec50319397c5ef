/**
 * Training and test options, described once as zod schemas. Keys are the official
 * pytorch-CycleGAN-and-pix2pix option names and defaults are the official CycleGAN ones, so a
 * command line written for the official `train.py` works here unchanged. The command-line parser
 * (core/cli/command.ts) and its `--help` are generated from these schemas.
 */
import * as os from 'node:os';
import { z } from 'zod';
import { generatorSpec, parseResnetBlocks, sizeMultiple } from '../core/arch/spec';
import {
  BACKENDS,
  DEVICE_CHOICES,
  optionField,
  parseOptionsWith,
  withCrossChecks,
  type OptionIssue,
} from '../core/config/options';
import { toNumber, toText } from '../core/config/coerce';

const { int: intType, number: numberType, boolean: booleanType, enum: enumType, text: textType } = optionField;
const plainNameType = optionField.plainName;

function epochLabelType() {
  return z.preprocess(
    toText,
    z.string({ invalid_type_error: 'must be a string' }).regex(/^(latest|\d+)$/, "must be 'latest' or an epoch number"),
  );
}

function ncType() {
  return z.preprocess(
    (v) => toNumber(v, false),
    z.number({ invalid_type_error: 'must be 1 or 3' }).refine((n) => n === 1 || n === 3, 'must be 1 or 3'),
  );
}

function netGType() {
  return z
    .string({ invalid_type_error: 'must be a string' })
    .refine(
      (s) => parseResnetBlocks(s) !== null || s === 'unet_256' || s === 'unet_128',
      'must be resnet_<n>blocks (e.g. resnet_9blocks, resnet_6blocks), unet_256 or unet_128',
    );
}

export const PREPROCESS_MODES = ['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'] as const;
export type PreprocessMode = (typeof PREPROCESS_MODES)[number];
export const ENGINES = ['auto', 'onnxruntime', 'tfjs'] as const;
export type EngineName = (typeof ENGINES)[number];

const direction = () => enumType(['AtoB', 'BtoA']).default('AtoB');
const preprocess = () => enumType(PREPROCESS_MODES).default('resize_and_crop');
export const backendOption = () =>
  enumType(BACKENDS)
    .default('auto')
    .describe(
      'tfjs backend; tensorflow means tfjs-node if installed, webgpu a GPU through Dawn, auto the fastest available',
    );

// ---------------------------------------------------------------------------------------------
// Training options (official base_options + train_options + cycle_gan_model, plus ours).

export const trainOptionsShape = {
  // basic
  dataroot: textType().describe('path to images: needs subfolders trainA and trainB (testA/testB for testing)'),
  name: plainNameType()
    .default('experiment_name')
    .describe('name of the experiment: checkpoints and samples go to <checkpoints_dir>/<name>'),
  checkpoints_dir: textType().default('./checkpoints').describe('models are saved here'),
  // model
  input_nc: ncType().default(3).describe('channels of domain A images: 3 for RGB, 1 for grayscale'),
  output_nc: ncType().default(3).describe('channels of domain B images: 3 for RGB, 1 for grayscale'),
  ngf: intType(1).default(64).describe('generator filters in the last conv layer'),
  ndf: intType(1).default(64).describe('discriminator filters in the first conv layer'),
  netD: enumType(['basic', 'n_layers', 'pixel'])
    .default('basic')
    .describe(
      'discriminator: basic is a 70x70 PatchGAN, n_layers a PatchGAN with --n_layers_D layers, pixel a 1x1 PatchGAN',
    ),
  netG: netGType()
    .default('resnet_9blocks')
    .describe('generator: resnet_<n>blocks (e.g. resnet_9blocks), unet_256 or unet_128'),
  n_layers_D: intType(1).default(3).describe('discriminator layers; only used with --netD n_layers'),
  norm: enumType(['instance', 'batch', 'none']).default('instance').describe('normalisation layers'),
  init_type: enumType(['normal', 'xavier', 'kaiming', 'orthogonal'])
    .default('normal')
    .describe('weight initialisation'),
  init_gain: numberType((n) => n > 0, 'must be a number > 0')
    .default(0.02)
    .describe('scale of the initial weights for normal, xavier and orthogonal'),
  no_dropout: booleanType()
    .default(true)
    .describe(
      'leave dropout out of the generator, as the official CycleGAN does (--no_dropout=false adds dropout 0.5)',
    ),
  // dataset
  direction: direction().describe('translation direction: which domain is the input of G_A'),
  serial_batches: booleanType()
    .default(false)
    .describe('take images in order and pair A[i] with B[i]; otherwise shuffle each epoch and pick B at random'),
  num_threads: intType(0).default(4).describe('decoding concurrency: batches prepared ahead of the training step'),
  batch_size: intType(1).default(1).describe('input batch size'),
  load_size: intType(1).default(286).describe('scale images to this size'),
  crop_size: intType(1).default(256).describe('then crop to this size'),
  max_dataset_size: intType(1, true)
    .default(Infinity)
    .describe('use at most this many images per domain (the first ones in sorted order)'),
  preprocess: preprocess().describe('scaling and cropping at load time'),
  no_flip: booleanType().default(false).describe('do not flip images horizontally for data augmentation'),
  // training loop and saving
  display_freq: intType(1).default(400).describe('save sample images every <display_freq> training images'),
  print_freq: intType(1).default(100).describe('print losses every <print_freq> training images'),
  save_latest_freq: intType(1)
    .default(5000)
    .describe('save the latest checkpoint every <save_latest_freq> training images'),
  save_epoch_freq: intType(1).default(5).describe('save a checkpoint at the end of every <save_epoch_freq> epochs'),
  continue_train: booleanType().default(false).describe('continue training from the checkpoint selected by --epoch'),
  epoch: epochLabelType().default('latest').describe("which checkpoint to load: 'latest' or an epoch number"),
  epoch_count: intType(1).default(1).describe('number of the first epoch (set it when continuing a run by hand)'),
  from_pth: textType()
    .optional()
    .describe(
      'with --continue_train: start from an official PyTorch run folder holding <epoch>_net_G_A.pth, _G_B, _D_A ' +
        'and _D_B (epoch from --epoch) instead of a cyclegan-ts checkpoint; the optimisers start fresh',
    ),
  n_epochs: intType(0).default(100).describe('epochs at the initial learning rate'),
  n_epochs_decay: intType(0).default(100).describe('epochs to decay the learning rate linearly to zero'),
  // optimisation
  beta1: numberType((n) => n >= 0 && n < 1, 'must be a number in [0, 1)')
    .default(0.5)
    .describe('Adam momentum term beta1'),
  lr: numberType((n) => n > 0, 'must be a number > 0')
    .default(0.0002)
    .describe('initial Adam learning rate'),
  gan_mode: enumType(['lsgan', 'vanilla'], {
    wgangp:
      'must be lsgan or vanilla: wgangp is not supported for CycleGAN here (the official model applies no gradient penalty)',
  })
    .default('lsgan')
    .describe('GAN objective: least squares (lsgan) or cross-entropy (vanilla)'),
  pool_size: intType(0)
    .default(50)
    .describe('size of the buffer of generated images shown to the discriminators (0: none)'),
  lr_policy: enumType(['linear', 'step', 'cosine'], {
    plateau: 'must be linear, step or cosine: plateau needs a validation metric that CycleGAN training does not have',
    lambda: "must be linear, step or cosine: 'lambda' is the old name of linear",
  })
    .default('linear')
    .describe('learning-rate schedule over epochs'),
  lr_decay_iters: intType(1)
    .default(50)
    .describe('with --lr_policy step: multiply the rate by 0.1 every <lr_decay_iters> epochs'),
  lambda_A: numberType((n) => n >= 0, 'must be a number >= 0')
    .default(10)
    .describe('weight of the cycle loss A -> B -> A'),
  lambda_B: numberType((n) => n >= 0, 'must be a number >= 0')
    .default(10)
    .describe('weight of the cycle loss B -> A -> B'),
  lambda_identity: numberType((n) => n >= 0, 'must be a number >= 0')
    .default(0.5)
    .describe('weight of the identity loss, relative to lambda_A/lambda_B (0 disables it)'),
  // ours
  seed: intType(0).optional().describe('random seed; a run without one picks a seed and records it in its checkpoints'),
  backend: backendOption(),
  engine: enumType(ENGINES)
    .default('auto')
    .describe(
      'what computes the training steps. onnxruntime: each iteration as two ONNX graphs (generator step, ' +
        "discriminator step) on onnxruntime-node's CPU kernels, using every core (--threads). tfjs: the " +
        'tfjs model on --backend (--workers threads), which also runs on GPUs. auto: onnxruntime when the ' +
        'tfjs backend is wasm or cpu and crops have one size, else tfjs (the log says why). ' +
        'Both engines compute the same steps and save the same checkpoints: a run resumes on either',
    ),
  device: enumType(DEVICE_CHOICES)
    .default('auto')
    .describe(
      "onnxruntime engine: where the step graphs run. webgpu: onnxruntime-node's bundled WebGPU provider " +
        '(a GPU with Vulkan, Metal or D3D12 drivers; weights and Adam moments stay on it between steps). cuda: ' +
        'its CUDA provider, where ONNXRUNTIME_NODE_INSTALL=cuda12 npm install put it. cpu: --threads cores. auto: ' +
        'webgpu on a hardware adapter, else cuda, else cpu (never a software adapter; the log says why). ' +
        'Checkpoints are the same on every device: a run resumes on any',
    ),
  threads: intType(1)
    .optional()
    .describe(
      `onnxruntime engine: intra-op threads in all, split evenly between two workers (default: every core, ${os.availableParallelism()} here). ` +
        'Results are bit-for-bit repeatable for a given thread count and worker count; another count changes float rounding',
    ),
  workers: z
    .union([z.literal('auto'), numberType((n) => n === 1 || n === 2, "must be 1, 2 or 'auto'")])
    .default('auto')
    .describe(
      'worker threads per training step. 2 splits each iteration over two workers (same math, one side of the ' +
        'cycle loss each), each on half the cores: XNNPACK threads on tfjs, intra-op threads on onnxruntime. ' +
        '1 computes on this thread (onnxruntime: one session on every --threads thread). auto: on tfjs 2 when the ' +
        'backend is wasm or cpu and the machine has at least 2 cores; on onnxruntime 2 from 4 threads (on 2, one ' +
        'session is as fast at half the memory); batch norm and the tensorflow backend (multi-threaded itself) always use 1',
    ),
  max_iters: intType(1).optional().describe('stop after this many iterations in total (smoke runs, benchmarks)'),
};

/** Training options as parsed: every field present except the optional seed, threads, max_iters and from_pth. */
export type TrainOptions = z.output<z.ZodObject<typeof trainOptionsShape>>;

/** Spatial sides the generator needs to be a multiple of (4 for ResNet, 256/128 for the U-Nets). */
export function generatorSizeMultiple(
  o: Pick<TrainOptions, 'netG' | 'input_nc' | 'output_nc' | 'ngf' | 'norm'>,
): number {
  return sizeMultiple(
    generatorSpec({
      netG: o.netG,
      inputNc: o.input_nc,
      outputNc: o.output_nc,
      ngf: o.ngf,
      norm: o.norm,
      useDropout: false,
    }),
  );
}

/** Preprocess modes whose output size depends on each image's aspect ratio. */
export function variableSizePreprocess(p: PreprocessMode): boolean {
  return p === 'scale_width' || p === 'none';
}

function crossCheckSizes(o: Pick<TrainOptions, 'preprocess' | 'load_size' | 'crop_size'>): OptionIssue[] {
  const out: OptionIssue[] = [];
  if ((o.preprocess === 'resize_and_crop' || o.preprocess === 'scale_width_and_crop') && o.crop_size > o.load_size) {
    out.push({
      path: 'crop_size',
      message: `--crop_size (${o.crop_size}) must not exceed --load_size (${o.load_size}) with --preprocess ${o.preprocess}`,
    });
  }
  return out;
}

function crossCheckTrain(o: TrainOptions): OptionIssue[] {
  const out = crossCheckSizes(o);
  const m = generatorSizeMultiple(o);
  const halvings = Math.round(Math.log2(m));
  if (o.preprocess.includes('crop') && o.crop_size % m !== 0) {
    out.push({
      path: 'crop_size',
      message: `--crop_size (${o.crop_size}) must be a multiple of ${m} for --netG ${o.netG} (it halves the image ${halvings} times)`,
    });
  }
  if (variableSizePreprocess(o.preprocess) && m > 4) {
    out.push({
      path: 'preprocess',
      message: `--preprocess ${o.preprocess} only rounds image sides to multiples of 4, but --netG ${o.netG} needs multiples of ${m}; use a preprocess with crop`,
    });
  }
  if (o.preprocess === 'scale_width' && o.load_size % 4 !== 0) {
    out.push({
      path: 'load_size',
      message: `--load_size (${o.load_size}) must be a multiple of 4 with --preprocess scale_width (it becomes the image width)`,
    });
  }
  if (variableSizePreprocess(o.preprocess) && o.batch_size > 1) {
    out.push({
      path: 'batch_size',
      message: `--batch_size ${o.batch_size} needs equally sized images, but --preprocess ${o.preprocess} keeps each image's aspect ratio; use --batch_size 1 or a preprocess with crop`,
    });
  }
  if (o.lambda_identity > 0 && o.input_nc !== o.output_nc) {
    out.push({
      path: 'lambda_identity',
      message: `--lambda_identity must be 0 when --input_nc (${o.input_nc}) differs from --output_nc (${o.output_nc}): the identity loss compares images of both domains`,
    });
  }
  if (o.lr_policy === 'cosine' && o.n_epochs < 1) {
    out.push({ path: 'n_epochs', message: '--lr_policy cosine needs --n_epochs >= 1 (it is the cosine period)' });
  }
  if (o.from_pth !== undefined && !o.continue_train) {
    out.push({
      path: 'from_pth',
      message: '--from_pth needs --continue_train (it says where training continues from)',
    });
  }
  const last = o.n_epochs + o.n_epochs_decay;
  if (o.epoch_count > last) {
    out.push({
      path: 'epoch_count',
      message: `--epoch_count (${o.epoch_count}) is past the last epoch (--n_epochs + --n_epochs_decay = ${last}): nothing to train`,
    });
  }
  return out;
}

export const trainOptionsSchema = withCrossChecks(trainOptionsShape, crossCheckTrain);

// ---------------------------------------------------------------------------------------------
// Test (translate a test set with a trained checkpoint) options: the official test_options subset
// this project uses. As in the official test.py, images are not flipped and B is paired in order.

export const testOptionsShape = {
  dataroot: textType().describe('path to images: needs subfolder testA (and testB for BtoA)'),
  name: trainOptionsShape.name,
  checkpoints_dir: trainOptionsShape.checkpoints_dir,
  epoch: trainOptionsShape.epoch,
  num_test: intType(1, true).default(50).describe('how many test images to translate'),
  results_dir: textType().default('./results/').describe('translated images are saved here'),
  preprocess: preprocess().describe('scaling and cropping at load time'),
  // The official test options default load_size to crop_size, so test images are not cropped.
  load_size: intType(1).default(256).describe('scale images to this size'),
  crop_size: intType(1).default(256).describe('then crop to this size'),
  direction: direction().describe('which way to translate'),
  backend: backendOption(),
};

export type TestOptions = z.output<z.ZodObject<typeof testOptionsShape>>;

export const testOptionsSchema = withCrossChecks(testOptionsShape, crossCheckSizes);

/** Training options from a plain object (command line strings or JSON values); defaults filled in. */
export function parseTrainOptions(raw: unknown): TrainOptions {
  return parseOptionsWith(trainOptionsSchema, raw) as TrainOptions;
}

export function parseTestOptions(raw: unknown): TestOptions {
  return parseOptionsWith(testOptionsSchema, raw) as TestOptions;
}
