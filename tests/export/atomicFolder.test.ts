/** Writing a model folder all-or-nothing, replacing one, and recovering after a killed export. */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFolderAtomically } from '../../export/atomicFolder';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cyclegan-folder-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const write = (files: Record<string, string>) => async (dir: string) => {
  for (const [f, text] of Object.entries(files)) await fs.writeFile(path.join(dir, f), text);
};

async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fs.readdir(dir)).sort()) out[f] = await fs.readFile(path.join(dir, f), 'utf8');
  return out;
}

/** A pid that certainly belongs to no running process: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('writeFolderAtomically', () => {
  test('creates the folder (and missing parents) with everything in it, and nothing else', async () => {
    const dest = path.join(tmp, 'models', 'm');
    await writeFolderAtomically(dest, write({ 'model.json': '{}', 'AtoB.onnx': 'a' }));
    expect(await contents(dest)).toEqual({ 'AtoB.onnx': 'a', 'model.json': '{}' });
    expect(await fs.readdir(path.join(tmp, 'models'))).toEqual(['m']);
  });

  test('a failure while filling leaves no folder and no temp folder', async () => {
    const dest = path.join(tmp, 'm');
    const fill = async (dir: string) => {
      await fs.writeFile(path.join(dir, 'AtoB.onnx'), 'half');
      throw new Error('disk full');
    };
    await expect(writeFolderAtomically(dest, fill)).rejects.toThrow('disk full');
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  test('replaces a model folder completely; a failed replacement keeps the old one', async () => {
    const dest = path.join(tmp, 'm');
    await writeFolderAtomically(dest, write({ 'model.json': 'v1', 'AtoB.fp16.onnx': 'old extra' }));
    await writeFolderAtomically(dest, write({ 'model.json': 'v2' }));
    expect(await contents(dest)).toEqual({ 'model.json': 'v2' });
    await expect(
      writeFolderAtomically(dest, async () => {
        throw new Error('verification failed');
      }),
    ).rejects.toThrow('verification failed');
    expect(await contents(dest)).toEqual({ 'model.json': 'v2' });
    expect(await fs.readdir(tmp)).toEqual(['m']);
  });

  test('refuses to replace a file or a folder that is not a model folder', async () => {
    await fs.writeFile(path.join(tmp, 'file'), 'x');
    await expect(writeFolderAtomically(path.join(tmp, 'file'), write({}))).rejects.toThrow('is not a folder');
    await fs.mkdir(path.join(tmp, 'docs'));
    await fs.writeFile(path.join(tmp, 'docs', 'a.txt'), 'keep');
    await expect(writeFolderAtomically(path.join(tmp, 'docs'), write({}))).rejects.toThrow(/refusing to replace/);
    expect(await contents(path.join(tmp, 'docs'))).toEqual({ 'a.txt': 'keep' });
    // A folder of epoch_N model folders (from --epoch all) is ours.
    await fs.mkdir(path.join(tmp, 'run', 'epoch_5'), { recursive: true });
    await writeFolderAtomically(path.join(tmp, 'run'), write({ 'model.json': 'x' }));
    expect(await contents(path.join(tmp, 'run'))).toEqual({ 'model.json': 'x' });
  });

  test('after a killed export: its temp folder is removed; live exports are left alone', async () => {
    const dest = path.join(tmp, 'm');
    const dead = path.join(tmp, `.m.tmp-${deadPid()}-0a1b2c3d`);
    const live = path.join(tmp, `.m.tmp-${process.pid}-0a1b2c3d`);
    await fs.mkdir(dead);
    await fs.mkdir(live);
    await writeFolderAtomically(dest, write({ 'model.json': 'new' }));
    expect((await fs.readdir(tmp)).sort()).toEqual([path.basename(live), 'm']);
  });

  test('after an export killed between its two renames, the complete old folder is put back', async () => {
    const dest = path.join(tmp, 'm');
    const old = path.join(tmp, `.m.old-${deadPid()}-deadbeef`);
    await fs.mkdir(old);
    await fs.writeFile(path.join(old, 'model.json'), 'previous');
    // Even if this export fails, the previous model is back in place.
    await expect(
      writeFolderAtomically(dest, async () => {
        throw new Error('bad checkpoint');
      }),
    ).rejects.toThrow('bad checkpoint');
    expect(await contents(dest)).toEqual({ 'model.json': 'previous' });
    expect(await fs.readdir(tmp)).toEqual(['m']);
  });

  test('an obsolete old copy (the new folder did arrive) is deleted', async () => {
    const dest = path.join(tmp, 'm');
    await writeFolderAtomically(dest, write({ 'model.json': 'current' }));
    await fs.mkdir(path.join(tmp, `.m.old-${deadPid()}-deadbeef`));
    await writeFolderAtomically(dest, write({ 'model.json': 'next' }));
    expect(await fs.readdir(tmp)).toEqual(['m']);
    expect(await contents(dest)).toEqual({ 'model.json': 'next' });
  });
});
