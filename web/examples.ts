/**
 * The repository's examples/ images, listed for the page's one-click examples: `<folder>/<file>`
 * for every image one folder deep. The folder names say the domain (examples/README.md).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export const EXAMPLES_DIR = path.join(__dirname, '..', 'examples');
const IMAGE = /\.(png|jpe?g|webp|gif|bmp)$/i;

export interface ExampleImage {
  /** URL relative to the page. */
  url: string;
  /** The subfolder, e.g. `twemoji`. */
  group: string;
  name: string;
}

export async function listExamples(dir = EXAMPLES_DIR): Promise<ExampleImage[]> {
  const out: ExampleImage[] = [];
  const groups = (await fs.readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
  for (const g of groups.map((e) => e.name).sort()) {
    for (const f of (await fs.readdir(path.join(dir, g))).filter((f) => IMAGE.test(f)).sort())
      out.push({ url: `examples/${g}/${f}`, group: g, name: f.replace(/\.[^.]+$/, '') });
  }
  return out;
}
