/** `npm run test-translate -- --dataroot ... --name ... [--epoch latest] [--num_test 50]` */
import { runCommand } from '../core/cli/command';
import { initBackend } from '../core/tf/backend';
import { testCommand } from './commands';
import { translateTestSet } from './translateTestSet';

runCommand(testCommand, async (opts) => {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  await initBackend(opts.backend, log);
  const r = await translateTestSet(opts, log);
  log(`translated ${r.translated} images, skipped ${r.skipped.length}; open ${r.dir}/index.html`);
});
