/** Running a bench/ script as `npx tsx` would, and the one-line command-line error every script gives. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';

/** Runs bench/`name` with tsx in a process of its own. */
export function benchScript(name: string, timeoutMs: number) {
  const script = path.join(__dirname, '..', '..', 'bench', name);
  return (...args: string[]): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', timeout: timeoutMs });
}

/** Exit 2, nothing on stdout, one line on stderr naming the option (`named`). */
export function expectCommandLineError(r: SpawnSyncReturns<string>, named: RegExp): void {
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(named);
}
