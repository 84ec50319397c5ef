/**
 * Every command line of the project, run as a user runs it: each is declared through core/cli, so
 * each has the same --help layout (usage with required flags, every flag, kebab-case note, exit
 * statuses) and the same answer to a bad command line (one line on stderr, exit status 2).
 * The list of commands is read from package.json and the tools/ and bench/ folders, so a new
 * command cannot skip the CLI layer unnoticed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../../core/cli/errors';

const ROOT = path.join(__dirname, '..', '..', '..');

/** Entry files: `node --import tsx FILE` npm scripts (the server excepted) and tools/bench scripts with a CLI. */
function commandFiles(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const files = new Set<string>();
  for (const [name, script] of Object.entries(pkg.scripts)) {
    const m = /^node --import tsx (\S+\.ts)$/.exec(script);
    if (m && name !== 'start') files.add(m[1]);
  }
  for (const dir of ['tools', 'bench'])
    for (const f of readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.ts'))) {
      const src = readFileSync(path.join(ROOT, dir, f), 'utf8');
      if (/process\.argv|runCommand\(|from 'commander'/.test(src)) files.add(`${dir}/${f}`);
    }
  return [...files].sort();
}

const FILES = commandFiles();

function run(file: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the command list covers every npm script and tool', () => {
  for (const f of [
    'train/cli.ts',
    'train/translateTestSetCli.ts',
    'export/cli.ts',
    'translate/cli.ts',
    'tools/datasets/emoji.ts',
  ])
    expect(FILES).toContain(f);
  expect(FILES).toContain('tools/evaluate_model.ts');
  expect(FILES).toContain('bench/serve.ts');
});

describe.each(FILES)('%s', (file) => {
  test('--help: usage line with the required flags, every flag described, exit statuses', () => {
    const r = run(file, ['--help']);
    expect([r.code, r.stderr]).toEqual([EXIT.ok, '']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^Usage: \S.* (--\w+ <[^>]+> )*\[options\]$/);
    const options = r.stdout.slice(r.stdout.indexOf('\nOptions:\n'));
    // Every flag of the usage line is a required one, and marked so in its description.
    const required = [...lines[0].matchAll(/--(\w+) </g)].map((m) => m[1]);
    const flat = options.replace(/\s+/g, ' ');
    for (const flag of required) expect(flat).toMatch(new RegExp(`--${flag} <[^>]+> [^]*?\\(required\\)`));
    expect((flat.match(/\(required\)/g) ?? []).length).toBe(required.length);
    // No switch reads backwards: switches say nothing about defaults or say "on by default".
    expect(flat).not.toMatch(/\(default: (true|false)\)/);
    expect(r.stdout).toContain('-h, --help');
    expect(r.stdout).toMatch(/\nExit status: 0 done, 1 failed, 2 bad command line[,.]/);
  });

  test('a bad command line is one line on stderr and exit status 2', () => {
    const r = run(file, ['--no_such_flag']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^[\w:/-]+: error: unknown option '--no_such_flag' \(see --help\)\n$/);
  });
});

test('a bad value names the flag, what was expected and what was given', () => {
  const r = run('translate/cli.ts', ['--model', 'm', '--input', 'i', '--output', 'o', '--batch-size', 'many']);
  expect(r.code).toBe(EXIT.usage);
  expect(r.stderr).toBe('translate: error: --batch_size: expected an integer from 1 to 256, got "many" (see --help)\n');
  const t = run('train/cli.ts', ['--crop_size', '64']);
  expect(t.code).toBe(EXIT.usage);
  expect(t.stderr).toBe('train: error: --dataroot is required (see --help)\n');
});

test('a failure is one line on stderr and exit status 1', () => {
  const r = run('export/cli.ts', ['--checkpoints_dir', path.join(ROOT, 'no-such-folder')]);
  expect(r.code).toBe(EXIT.failure);
  expect(r.stderr).toMatch(/^export: error: cannot read checkpoints folder .*no-such-folder: ENOENT\n$/);
});
