/** `npm run test-translate -- --dataroot ... --name ... [--epoch latest] [--num_test 50]` */
import { parseArgvOrExit, parseTestArgv } from './options/cliOptions';
import { initBackend } from '../core/tf/backend';
import { runTest } from './testTranslate';

async function main(): Promise<void> {
  const opts = parseArgvOrExit(parseTestArgv);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  await initBackend(opts.backend, log);
  const r = await runTest(opts, log);
  log(`translated ${r.translated} images, skipped ${r.skipped.length}; open ${r.dir}/index.html`);
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
