/**
 * The one table of image formats this project reads, for training, the server and bulk
 * translation alike. `decoder` says who reads it: sharp (libvips) for most, our own BMP decoder
 * where libvips (built without ImageMagick) cannot. `training` marks the extensions the official
 * image folder (`IMG_EXTENSIONS` of data/image_folder.py) takes; the server and `npm run translate`
 * accept every row, so whatever the trainer reads can be served. `output` marks the formats the
 * server and `npm run translate` write: their response type is the first `mime`, their file
 * extension the first of `extensions`. `answer` is the format an input of the row is answered in
 * when the request names none (the input's family: itself where it is written, PNG for the other
 * lossless ones, JPEG for the other lossy photo formats).
 */

/** The formats written (rows with `output`), in the order content negotiation prefers them (PNG first). */
export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface ImageFormat {
  /** sharp's container name (`metadata().format`), or `bmp`. */
  name: string;
  extensions: readonly string[];
  mime: readonly string[];
  decoder: 'sharp' | 'bmp';
  training: boolean;
  /** Written as output; `alpha`: the format keeps an alpha channel (the input's is re-attached). */
  output?: { alpha: boolean };
  /** The output format an input of this format gets by default. */
  answer: OutputFormat;
}

export const IMAGE_FORMATS: readonly ImageFormat[] = [
  {
    name: 'jpeg',
    extensions: ['.jpg', '.jpeg', '.jpe'],
    mime: ['image/jpeg'],
    decoder: 'sharp',
    training: true,
    output: { alpha: false },
    answer: 'jpeg',
  },
  {
    name: 'png',
    extensions: ['.png'],
    mime: ['image/png'],
    decoder: 'sharp',
    training: true,
    output: { alpha: true },
    answer: 'png',
  },
  {
    name: 'webp',
    extensions: ['.webp'],
    mime: ['image/webp'],
    decoder: 'sharp',
    training: true,
    output: { alpha: true },
    answer: 'webp',
  },
  { name: 'bmp', extensions: ['.bmp'], mime: ['image/bmp'], decoder: 'bmp', training: true, answer: 'png' },
  {
    name: 'tiff',
    extensions: ['.tif', '.tiff'],
    mime: ['image/tiff'],
    decoder: 'sharp',
    training: true,
    answer: 'png',
  },
  { name: 'gif', extensions: ['.gif'], mime: ['image/gif'], decoder: 'sharp', training: false, answer: 'png' },
  { name: 'avif', extensions: ['.avif'], mime: ['image/avif'], decoder: 'sharp', training: false, answer: 'jpeg' },
  {
    name: 'heif',
    extensions: ['.heic', '.heif'],
    mime: ['image/heif', 'image/heic'],
    decoder: 'sharp',
    training: false,
    answer: 'jpeg',
  },
];

/** What writing an output format needs from its row. */
export interface OutputRow {
  mime: string;
  extension: string;
  alpha: boolean;
}

function outputRowOf(format: OutputFormat): OutputRow {
  const row = IMAGE_FORMATS.find((f) => f.name === format && f.output);
  if (!row?.output) throw new Error(`image format table: no output row for ${format}`);
  return { mime: row.mime[0], extension: row.extensions[0], alpha: row.output.alpha };
}

/** Each output format's row: response type, file extension, alpha kept. */
export const OUTPUT_ROWS: Readonly<Record<OutputFormat, OutputRow>> = Object.fromEntries(
  OUTPUT_FORMATS.map((f) => [f, outputRowOf(f)]),
) as Record<OutputFormat, OutputRow>;

/** Container names accepted as input (sharp's names, plus `bmp`). */
export const INPUT_FORMATS: ReadonlySet<string> = new Set(IMAGE_FORMATS.map((f) => f.name));

/** Lower-case extensions of every accepted format (server, bulk translation). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(IMAGE_FORMATS.flatMap((f) => f.extensions));

/** Lower-case extensions the trainer lists, as the official image folder. */
export const TRAINING_EXTENSIONS: readonly string[] = IMAGE_FORMATS.filter((f) => f.training).flatMap(
  (f) => f.extensions,
);

function extensionOf(file: string): string {
  const slash = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  const dot = file.lastIndexOf('.');
  return dot > slash ? file.slice(dot).toLowerCase() : '';
}

/**
 * The output format an input is answered in when the request names none: by the input's format
 * name (sharp's, as the header probe reports it), else by its file name's extension; PNG when
 * neither is in the table.
 */
export function answerFormatOf(input: { format?: string; file?: string }): OutputFormat {
  const ext = input.file === undefined ? '' : extensionOf(input.file);
  const row =
    IMAGE_FORMATS.find((f) => f.name === input.format) ?? IMAGE_FORMATS.find((f) => f.extensions.includes(ext));
  return row?.answer ?? 'png';
}

/** True when the file name has the extension of an accepted format. */
export function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.has(extensionOf(file));
}

/** True when the file name has an extension the trainer reads. */
export function isTrainingImageFile(file: string): boolean {
  return TRAINING_EXTENSIONS.includes(extensionOf(file));
}
