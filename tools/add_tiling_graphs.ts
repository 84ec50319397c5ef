/**
 * `node --import tsx tools/add_tiling_graphs.ts MODEL_FOLDER...`: adds the tiled-execution graphs
 * and model.json entries (export/tilingGraphs.ts) to model folders exported before tiling existed,
 * reading the weights back from their plain graphs. New exports include them already.
 */
import { addTilingGraphs } from '../export/tilingGraphs';

async function main(): Promise<void> {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0) throw new Error('usage: tools/add_tiling_graphs.ts MODEL_FOLDER...');
  for (const dir of dirs) await addTilingGraphs(dir, (line) => console.log(`${dir}: ${line}`));
}

main().catch((e: unknown) => {
  console.error(`add_tiling_graphs: ${(e as Error).message}`);
  process.exit(1);
});
