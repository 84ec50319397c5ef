/**
 * `npm run build:web -- [--model models/<folder>] [--out dist/web]`
 *
 * The static export: the page, the browser pipeline, onnxruntime-web's runtime, one model folder's
 * plain graphs + model.json + card and the examples, in one folder that any static file server can
 * host with no Node process behind it. The page finds no API there and runs only in the browser
 * (one wasm thread unless the host sends the COOP/COEP headers; images that need tiled execution
 * are refused with a message, as tiling runs on the server).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { runCommand, type CommandSpec } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { MANIFEST_FILE, parseManifest, type Direction } from '../core/modelManifest';
import { embedExternalWeights } from '../core/onnx/externalWeights';
import { DEFAULT_TILING } from '../inference/tiling/tiledTranslate';
import { bundleBrowserPipeline, ORT_DIST_DIR, ORT_FILES, RESAMPLE_WASM_FILE } from './bundle';
import { EXAMPLES_DIR, listExamples } from './examples';
import { CARD_FILES, describeModelFolder, MODEL_FILES_PATH, type BrowserModelIndex } from './modelListing';

export const PAGE_DIR = path.join(__dirname, '..', 'serve', 'public');
const PAGE_FILES = ['index.html', 'app.js', 'style.css'];

export interface StaticBuild {
  out: string;
  model: string;
  files: number;
  bytes: number;
}

async function copy(from: string, to: string): Promise<number> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.copyFile(from, to);
  return (await fs.stat(to)).size;
}

/** The first model folder (with a model.json) in `modelsDir`, sorted by name. */
export async function firstModelFolder(modelsDir: string): Promise<string> {
  for (const e of (await fs.readdir(modelsDir)).sort())
    if (await fs.stat(path.join(modelsDir, e, MANIFEST_FILE)).catch(() => null)) return path.join(modelsDir, e);
  throw new Error(`no model folder with a ${MANIFEST_FILE} in ${modelsDir}`);
}

/** Writes the static site for `modelDir` into `out` (replaced if it exists). */
export async function buildStaticSite(modelDir: string, out: string): Promise<StaticBuild> {
  const manifestPath = path.join(modelDir, MANIFEST_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(manifestPath, 'utf8'));
  } catch (e) {
    throw new Error(`${manifestPath}: ${(e as Error).message}`);
  }
  const manifest = parseManifest(json, manifestPath);
  await fs.rm(out, { recursive: true, force: true });
  let files = 0;
  let bytes = 0;
  const add = async (from: string, rel: string) => {
    bytes += await copy(from, path.join(out, rel));
    files++;
  };
  const write = async (rel: string, text: string | Uint8Array) => {
    await fs.mkdir(path.dirname(path.join(out, rel)), { recursive: true });
    await fs.writeFile(path.join(out, rel), text);
    bytes += Buffer.byteLength(text);
    files++;
  };
  for (const f of PAGE_FILES) await add(path.join(PAGE_DIR, f), f);
  await write('browser/pipeline.js', await bundleBrowserPipeline());
  await add(RESAMPLE_WASM_FILE, 'browser/resample.wasm');
  for (const f of ORT_FILES) await add(path.join(ORT_DIST_DIR, f), `ort/${f}`);

  const directions = Object.keys(manifest.directions) as Direction[];
  const folder = `${MODEL_FILES_PATH}/${manifest.name}`;
  await add(manifestPath, `${folder}/${MANIFEST_FILE}`);
  // The page opens graphs from bytes: a graph's shared external weights go inside its copy.
  for (const d of directions) {
    const e = manifest.directions[d]!;
    if (e.weights) await write(`${folder}/${e.file}`, await embedExternalWeights(modelDir, e.file));
    else await add(path.join(modelDir, e.file), `${folder}/${e.file}`);
  }
  for (const f of CARD_FILES)
    if (await fs.stat(path.join(modelDir, f)).catch(() => null)) await add(path.join(modelDir, f), `${folder}/${f}`);
  const index: BrowserModelIndex = {
    defaultModel: manifest.name,
    tilePixels: DEFAULT_TILING.tilePixels,
    models: [await describeModelFolder(modelDir, manifest, directions)],
  };
  await write(`${MODEL_FILES_PATH}/index.json`, JSON.stringify(index, null, 2));

  const examples = await listExamples();
  for (const ex of examples) await add(path.join(EXAMPLES_DIR, ex.url.replace(/^examples\//, '')), ex.url);
  await write('examples/index.json', JSON.stringify(examples, null, 2));
  return { out, model: manifest.name, files, bytes };
}

const buildWebSchema = z
  .object({
    model: field.text().optional().describe('model folder to include (default: the first folder in ./models)'),
    out: field.text().default('dist/web').describe('folder to write (replaced)'),
  })
  .strict();

export const buildWebCommand: CommandSpec<typeof buildWebSchema> = {
  name: 'build:web',
  program: 'npm run build:web --',
  summary:
    'Write the page, its browser pipeline, onnxruntime-web and one model folder as a static site that translates ' +
    'in the browser with no server behind it.',
  schema: buildWebSchema,
  placeholders: { model: '<dir>', out: '<dir>' },
};

async function main(o: z.output<typeof buildWebSchema>): Promise<void> {
  const modelDir = o.model ?? (await firstModelFolder('models'));
  const r = await buildStaticSite(modelDir, o.out);
  process.stdout.write(
    `${r.out}: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB (model ${r.model}); serve it with any static file server\n`,
  );
}

if (require.main === module) runCommand(buildWebCommand, main);
