/**
 * `node --import tsx tools/add_tiling_graphs.ts --models DIR[,DIR...]`: adds the tiled-execution graphs
 * and model.json entries (export/tilingGraphs.ts) to model folders exported before tiling existed,
 * reading the weights back from their plain graphs. New exports include them already.
 */
import { z } from 'zod';
import { runCommand } from '../core/cli/command';
import { field } from '../core/cli/fields';
import { addTilingGraphs } from '../export/tilingGraphs';

const schema = z
  .object({
    models: field
      .parsed((s) => {
        const dirs = s.split(',').filter((d) => d.length > 0);
        if (dirs.length === 0) throw new Error('empty');
        return dirs;
      }, 'a comma-separated list of model folders')
      .describe('model folders to upgrade (each written in place, atomically)'),
  })
  .strict();

runCommand(
  {
    name: 'add_tiling_graphs',
    program: 'node --import tsx tools/add_tiling_graphs.ts',
    summary: 'Add the tiled-execution graphs and model.json entries to model folders exported before tiling existed.',
    schema,
    placeholders: { models: '<dirs>' },
  },
  async ({ models }) => {
    for (const dir of models) await addTilingGraphs(dir, (line) => console.log(`${dir}: ${line}`));
  },
);
