/**
 * A quiet, honest install: npm prints no warning caused by the project's own configuration, every
 * dependency install script is explicitly allowed or denied (npm warns about unreviewed ones), and
 * onnxruntime-node's CUDA download stays off unless ONNXRUNTIME_NODE_INSTALL asks for it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  allowScripts: Record<string, boolean>;
  scripts: Record<string, string>;
};

test('npm reads the project configuration without warnings', () => {
  const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stderr).toBe('');
  expect(existsSync(path.join(ROOT, '.npmrc'))).toBe(false);
});

test('every dependency with an install script is reviewed in allowScripts', () => {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { hasInstallScript?: boolean }>;
  };
  const withScripts = Object.entries(lock.packages)
    .filter(([key, p]) => key !== '' && p.hasInstallScript)
    .map(([key]) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length));
  expect(withScripts.length).toBeGreaterThan(0);
  for (const name of withScripts) expect([name, typeof pkg.allowScripts[name]]).toEqual([name, 'boolean']);
  // onnxruntime-node's script only downloads CUDA providers; its CPU build is in the package.
  expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
  expect(pkg.allowScripts.sharp).toBe(true);
});

test('the postinstall hook does nothing unless ONNXRUNTIME_NODE_INSTALL asks for providers', () => {
  const [cmd, ...args] = pkg.scripts.postinstall.split(' ');
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: '' };
  const r = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { cwd: ROOT, encoding: 'utf8', env });
  expect([r.status, r.stdout, r.stderr]).toEqual([0, '', '']);
  const skip = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  expect([skip.status, skip.stdout]).toEqual([0, '']);
});
