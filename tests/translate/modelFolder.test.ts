/** `--model`: finding the model folder by manifest name, folder name or path, with one-line errors. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkDirection, resolveModel, TranslateError } from '../../translate/modelFolder';
import { writeTinyModel } from '../helpers/tinyModel';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'translate-modelFolder-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('resolveModel', () => {
  let models: string;
  beforeAll(async () => {
    models = path.join(tmp, 'models');
    // Folder name and manifest name differ: the server knows this model as 'horse2zebra'.
    await writeTinyModel(models, { name: 'h2z-folder', directions: ['AtoB'] });
    const file = path.join(models, 'h2z-folder', 'model.json');
    const m = JSON.parse(await fs.readFile(file, 'utf8'));
    await fs.writeFile(file, JSON.stringify({ ...m, name: 'horse2zebra' }));
    await writeTinyModel(models, { name: 'other' });
    await fs.mkdir(path.join(models, 'not-a-model'));
  });

  it('finds a model by its manifest name, by folder name, or by path', async () => {
    const byName = await resolveModel('horse2zebra', models);
    expect(byName.dir).toBe(path.join(models, 'h2z-folder'));
    expect(byName.manifest.name).toBe('horse2zebra');
    expect((await resolveModel('h2z-folder', models)).dir).toBe(path.join(models, 'h2z-folder'));
    expect((await resolveModel(path.join(models, 'other'), '/nonexistent')).manifest.name).toBe('other');
  });

  it('says what is wrong in one line', async () => {
    const fails = async (p: Promise<unknown>, re: RegExp) => {
      const e = await p.then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(TranslateError);
      expect((e as Error).message).toMatch(re);
      expect((e as Error).message).not.toContain('\n');
    };
    await fails(resolveModel('zebra', models), /^no model 'zebra' in .*models \(models there: horse2zebra, other\)$/);
    await fails(resolveModel('zebra', path.join(tmp, 'nope')), /models directory .*nope does not exist/);
    await fails(resolveModel(path.join(models, 'missing'), models), /model folder .*missing does not exist/);
    await fails(resolveModel(path.join(models, 'not-a-model'), models), /not a model folder \(no model\.json\)/);
    const m = await resolveModel('horse2zebra', models);
    expect(() => checkDirection(m, 'BtoA')).toThrow("model 'horse2zebra' has no BtoA generator (directions: AtoB)");
    expect(() => checkDirection(m, 'AtoB')).not.toThrow();
  });
});
