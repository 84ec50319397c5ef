/**
 * Training and test options, described once as zod schemas. Keys are the official
 * pytorch-CycleGAN-and-pix2pix option names and defaults are the official CycleGAN ones, so a
 * command line written for the official `train.py` works here unchanged. The command-line parser
 * (core/cli/command.ts) and its `--help` are generated from these schemas.
 */
import * as os from 'node:os';
import { z } from 'zod';
import { generatorSpec, parseResnetBlocks, sizeMultiple } from '../arch/spec';
import { invalidParameter, showValue } from '../cli/errors';

// ---------------------------------------------------------------------------------------------
// Field builders. Values may arrive as strings (command line) or typed (JSON), so numbers and
// booleans are coerced first; each type carries the one message its errors print.

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

function toNumber(v: unknown, allowInf: boolean): unknown {
  if (typeof v === 'string') {
    const s = v.trim();
    if (NUMBER_RE.test(s)) return Number(s);
    if (allowInf && /^\+?inf(inity)?$/i.test(s)) return Infinity;
    return v;
  }
  // JSON cannot hold Infinity; JSON.stringify writes null, so options saved in a checkpoint round-trip.
  if (allowInf && v === null) return Infinity;
  return v;
}

function toBoolean(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'no') return false;
  return v;
}

function toText(v: unknown): unknown {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
}

function intType(min: 0 | 1, allowInf = false) {
  const what = min === 1 ? 'a positive integer' : 'a non-negative integer';
  const msg = allowInf ? `must be ${what} or inf` : `must be ${what}`;
  return z.preprocess(
    (v) => toNumber(v, allowInf),
    z
      .number({ invalid_type_error: msg, required_error: 'is required' })
      .refine((n) => (allowInf && n === Infinity) || (Number.isSafeInteger(n) && n >= min), msg),
  );
}

function numberType(check: (n: number) => boolean, msg: string) {
  return z.preprocess(
    (v) => toNumber(v, false),
    z
      .number({ invalid_type_error: msg, required_error: 'is required' })
      .refine((n) => Number.isFinite(n) && check(n), msg),
  );
}

function booleanType() {
  return z.preprocess(toBoolean, z.boolean({ invalid_type_error: 'must be true or false' }));
}

function enumType<const T extends readonly [string, ...string[]]>(values: T, unsupported: Record<string, string> = {}) {
  return z.enum(values, {
    errorMap: (_issue, ctx) => ({
      message:
        typeof ctx.data === 'string' && ctx.data in unsupported
          ? unsupported[ctx.data]
          : `must be one of ${values.join(', ')}`,
    }),
  });
}

function textType() {
  return z.preprocess(
    toText,
    z
      .string({ invalid_type_error: 'must be a string', required_error: 'is required' })
      .min(1, 'must be a non-empty string'),
  );
}

/** A single path component: used as a folder or file name under checkpoints_dir. */
function plainNameType() {
  return z.preprocess(
    toText,
    z
      .string({ invalid_type_error: 'must be a string' })
      .min(1, 'must be a non-empty string')
      .refine((s) => !/[/\\]/.test(s) && s !== '.' && s !== '..', 'must be a plain name without path separators'),
  );
}

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

/** The field types above, for other command lines' schemas (same coercion and messages). */
export const optionField = {
  int: intType,
  number: numberType,
  boolean: booleanType,
  enum: enumType,
  text: textType,
} as const;

export const PREPROCESS_MODES = ['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'] as const;
export type PreprocessMode = (typeof PREPROCESS_MODES)[number];
export const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export const ENGINES = ['auto', 'onnxruntime', 'tfjs'] as const;
export type EngineName = (typeof ENGINES)[number];

const direction = () => enumType(['AtoB', 'BtoA']).default('AtoB');
const preprocess = () => enumType(PREPROCESS_MODES).default('resize_and_crop');
const backend = () =>
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
  backend: backend(),
  engine: enumType(ENGINES)
    .default('auto')
    .describe(
      'what computes the training steps. onnxruntime: each iteration as two ONNX graphs (generator step, ' +
        "discriminator step) on onnxruntime-node's CPU kernels, using every core (--threads). tfjs: the " +
        'tfjs model on --backend (--workers threads), which also runs on GPUs. auto: onnxruntime when the ' +
        'tfjs backend is wasm or cpu and crops have one size, else tfjs (the log says why). ' +
        'Both engines compute the same steps and save the same checkpoints: a run resumes on either',
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

type Issue = { path: string; message: string };

function crossCheckSizes(o: Pick<TrainOptions, 'preprocess' | 'load_size' | 'crop_size'>): Issue[] {
  const out: Issue[] = [];
  if ((o.preprocess === 'resize_and_crop' || o.preprocess === 'scale_width_and_crop') && o.crop_size > o.load_size) {
    out.push({
      path: 'crop_size',
      message: `--crop_size (${o.crop_size}) must not exceed --load_size (${o.load_size}) with --preprocess ${o.preprocess}`,
    });
  }
  return out;
}

function crossCheckTrain(o: TrainOptions): Issue[] {
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

function withCrossChecks<T extends z.ZodRawShape, O>(shape: T, check: (o: O) => Issue[]) {
  const fields = z.object(shape).strict();
  return fields.superRefine((o, ctx) => {
    // zod runs refinements even when a field failed; cross-checks only make sense on valid fields.
    if (!fields.safeParse(o).success) return;
    for (const issue of check(o as O)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [issue.path],
        message: issue.message,
        params: { complete: true },
      });
    }
  });
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
  backend: backend(),
};

export type TestOptions = z.output<z.ZodObject<typeof testOptionsShape>>;

export const testOptionsSchema = withCrossChecks(testOptionsShape, crossCheckSizes);

// ---------------------------------------------------------------------------------------------
// Import (official PyTorch .pth generators → model folder) options. Architecture flags and their
// defaults are the training ones, i.e. the official ones.

export const importOptionsShape = {
  pth: textType()
    .optional()
    .describe('a PyTorch generator file (e.g. a pretrained latest_net_G.pth): the AtoB direction'),
  pth_BtoA: textType().optional().describe('the opposite generator file, for a model with both directions'),
  checkpoints_dir: textType()
    .optional()
    .describe(
      'instead of --pth: an official checkpoints folder; imports <name>/<epoch>_net_G_A.pth and _G_B.pth (a run), or <name>/<epoch>_net_G.pth (a pretrained test model)',
    ),
  name: plainNameType().describe('model name (and the run folder under --checkpoints_dir)'),
  epoch: trainOptionsShape.epoch,
  netG: trainOptionsShape.netG,
  ngf: trainOptionsShape.ngf,
  norm: trainOptionsShape.norm,
  input_nc: trainOptionsShape.input_nc,
  output_nc: trainOptionsShape.output_nc,
  no_dropout: trainOptionsShape.no_dropout,
  crop_size: intType(1).default(256).describe("the model's preferred input size (the training crop size)"),
  out: textType().optional().describe('model folder to write (default: models/<name>)'),
  reference: enumType(['float64', 'tfjs'])
    .default('float64')
    .describe(
      "what the graphs are checked against: float64 (an independent plain TypeScript forward pass) or tfjs (the trainer's generator in float32: faster, but on deep nets its own rounding can approach the 1e-4 bound)",
    ),
  verify_size: intType(1)
    .default(32)
    .describe(
      'side of the square test input the graphs are checked on (and a half-height one), rounded up to what the generator needs; the weights and graph checked are the same at any size',
    ),
  backend: backend(),
  quiet: booleanType().default(false).describe('print only errors and the written folder'),
};

export type ImportOptions = z.output<z.ZodObject<typeof importOptionsShape>>;

function crossCheckImport(o: ImportOptions): Issue[] {
  if ((o.pth === undefined) === (o.checkpoints_dir === undefined))
    return [{ path: 'pth', message: 'give either --pth FILE or --checkpoints_dir DIR (with --name)' }];
  if (o.pth_BtoA !== undefined && o.pth === undefined)
    return [{ path: 'pth_BtoA', message: '--pth_BtoA goes with --pth (the AtoB generator)' }];
  return [];
}

export const importOptionsSchema = withCrossChecks(importOptionsShape, crossCheckImport);

// ---------------------------------------------------------------------------------------------
// Parsing with one-line errors that name the flag.

/**
 * The message for the first problem zod found, in the CLI layer's style (core/cli/errors.ts):
 * `--crop_size: expected a positive integer, got "abc"`. Field messages read "must be X" or
 * "must be X: why"; cross-checks between options are complete sentences and pass through.
 */
export function formatOptionIssue(issue: z.ZodIssue, raw: unknown): string {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) return `unknown option --${issue.keys[0]}`;
  if (issue.path.length === 0) return `options ${issue.message}`;
  const key = String(issue.path[0]);
  if (issue.code === z.ZodIssueCode.custom && (issue.params as { complete?: boolean } | undefined)?.complete) {
    return issue.message;
  }
  const value = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined;
  if (value === undefined) return `--${key} is required`;
  const m = /^must be (.*?)(?:: (.*))?$/s.exec(issue.message);
  if (!m) return `--${key}: ${issue.message}, got ${showValue(value)}`;
  return invalidParameter(`--${key}`, m[1], value, m[2]);
}

/** Parses with `schema`, throwing an Error whose message is one line naming the offending flag. */
export function parseOptionsWith<S extends z.ZodTypeAny>(schema: S, raw: unknown): z.output<S> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('options must be an object');
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(formatOptionIssue(r.error.issues[0], raw).replace(/\s*\n\s*/g, ' '));
  return r.data;
}

/** Training options from a plain object (command line strings or JSON values); defaults filled in. */
export function parseTrainOptions(raw: unknown): TrainOptions {
  return parseOptionsWith(trainOptionsSchema, raw) as TrainOptions;
}

export function parseTestOptions(raw: unknown): TestOptions {
  return parseOptionsWith(testOptionsSchema, raw) as TestOptions;
}
