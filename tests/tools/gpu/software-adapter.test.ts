/**
 * tools/gpu/software-adapter.sh in its --check mode (it changes nothing): quiet and done where an
 * adapter is found, and otherwise the plan, with the bookworm-backports entry derived from the
 * machine's own Debian entry (a fake /etc here, so every layout is covered on any machine).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { lavapipeIcd } from '../../helpers/softwareAdapter';

const SCRIPT = path.join(__dirname, '..', '..', '..', 'tools', 'gpu', 'software-adapter.sh');
const NO_DRIVER = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };

function run(args: string[], env: Record<string, string>) {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, lines: r.stdout.split('\n').filter((l) => l.length > 0), stderr: r.stderr };
}

/** A fake /etc: os-release of `codename`, and apt source files by name. */
function fakeEtc(codename: string, sources: Record<string, string>): string {
  const etc = mkdtempSync(path.join(tmpdir(), 'etc-'));
  mkdirSync(path.join(etc, 'apt', 'sources.list.d'), { recursive: true });
  writeFileSync(path.join(etc, 'os-release'), `ID=debian\nVERSION_CODENAME=${codename}\n`);
  for (const [name, text] of Object.entries(sources)) writeFileSync(path.join(etc, 'apt', name), text);
  return etc;
}

const DEB822 =
  'Types: deb\nURIs: http://deb.example.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n' +
  'Types: deb\nURIs: http://deb.example.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n';
const NO_ADAPTER_LINE = /^software-adapter: no WebGPU adapter \(.+\)$/;

(lavapipeIcd ? test : test.skip)(
  `with lavapipe visible it does nothing: silent, and --check says so${lavapipeIcd ? '' : ' [skipped: no lavapipe ICD installed]'}`,
  () => {
    const env = { VK_ICD_FILENAMES: lavapipeIcd ?? '', SOFTWARE_ADAPTER_ETC: fakeEtc('bookworm', {}) };
    expect(run([], env)).toEqual({ status: 0, lines: [], stderr: '' });
    expect(run(['--check'], env)).toEqual({
      status: 0,
      lines: ['software-adapter: nothing to do: WebGPU adapter present (software llvmpipe)'],
      stderr: '',
    });
  },
);

test('no adapter, deb822 sources: the backports entry takes the Debian URI (not the security one)', () => {
  const etc = fakeEtc('bookworm', { 'sources.list.d/debian.sources': DEB822 });
  const r = run(['--check'], { ...NO_DRIVER, SOFTWARE_ADAPTER_ETC: etc });
  expect(r.status).toBe(2);
  expect(r.lines[0]).toMatch(NO_ADAPTER_LINE);
  expect(r.lines.slice(1)).toEqual([
    `software-adapter: would add ${etc}/apt/sources.list.d/backports.sources: http://deb.example.invalid/debian bookworm-backports main`,
    'software-adapter: would install mesa-vulkan-drivers libvulkan1 from bookworm-backports',
  ]);
});

test('no adapter, a one-line sources.list: the same URI; an existing backports entry is kept', () => {
  const list = fakeEtc('bookworm', { 'sources.list': 'deb http://deb.example.invalid/debian bookworm main\n' });
  expect(run(['--dry-run'], { ...NO_DRIVER, SOFTWARE_ADAPTER_ETC: list }).lines.slice(1)).toEqual([
    `software-adapter: would add ${list}/apt/sources.list.d/backports.sources: http://deb.example.invalid/debian bookworm-backports main`,
    'software-adapter: would install mesa-vulkan-drivers libvulkan1 from bookworm-backports',
  ]);
  const withBackports = fakeEtc('bookworm', {
    'sources.list': 'deb http://deb.example.invalid/debian bookworm main\n',
    'sources.list.d/backports.list': 'deb http://deb.example.invalid/debian bookworm-backports main\n',
  });
  expect(run(['--check'], { ...NO_DRIVER, SOFTWARE_ADAPTER_ETC: withBackports }).lines.slice(1)).toEqual([
    'software-adapter: would install mesa-vulkan-drivers libvulkan1 from bookworm-backports',
  ]);
});

test('it cannot help: no Debian entry, another release, a wrong flag: one line and exit 1', () => {
  const none = run(['--check'], { ...NO_DRIVER, SOFTWARE_ADAPTER_ETC: fakeEtc('bookworm', {}) });
  expect([none.status, none.lines.slice(1)]).toEqual([
    1,
    ['software-adapter: no Debian bookworm source entry to derive bookworm-backports from'],
  ]);
  const trixie = run(['--check'], { ...NO_DRIVER, SOFTWARE_ADAPTER_ETC: fakeEtc('trixie', {}) });
  expect(trixie.status).toBe(1);
  expect(trixie.lines[1]).toMatch(/^software-adapter: not Debian 12 \(bookworm\): install Mesa/);
  const bad = run(['--install-everything'], NO_DRIVER);
  expect([bad.status, bad.stderr.trim()]).toEqual([1, `usage: ${SCRIPT} [--check]`]);
});
