import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scanModelsDir } from '../../inference/modelsDirScan';

test('sub-folders and links to folders in name order, hidden ones and files skipped, model.json noted', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'models-scan-'));
  try {
    for (const d of ['b', 'a', '.hidden', 'empty', 'target']) await fs.mkdir(path.join(root, d));
    for (const d of ['a', 'b', '.hidden', 'target']) await fs.writeFile(path.join(root, d, 'model.json'), '{}');
    await fs.mkdir(path.join(root, 'b', 'nested'));
    await fs.writeFile(path.join(root, 'file.json'), '{}');
    await fs.symlink(path.join(root, 'target'), path.join(root, 'link'));
    await fs.symlink(path.join(root, 'file.json'), path.join(root, 'filelink'));
    await fs.mkdir(path.join(root, 'dirmanifest', 'model.json'), { recursive: true });
    expect(await scanModelsDir(root)).toEqual([
      { folder: 'a', dir: path.join(root, 'a'), hasManifest: true },
      { folder: 'b', dir: path.join(root, 'b'), hasManifest: true },
      { folder: 'dirmanifest', dir: path.join(root, 'dirmanifest'), hasManifest: false },
      { folder: 'empty', dir: path.join(root, 'empty'), hasManifest: false },
      { folder: 'link', dir: path.join(root, 'link'), hasManifest: true },
      { folder: 'target', dir: path.join(root, 'target'), hasManifest: true },
    ]);
    await expect(scanModelsDir(path.join(root, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
