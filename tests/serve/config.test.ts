import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../serve/config';

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'serve-config-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  const fails = (env: NodeJS.ProcessEnv): string => {
    try {
      loadConfig(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).not.toContain('\n');
      return msg;
    }
    throw new Error('expected a ConfigError');
  };

  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      MODELS_DIR: './models',
      EXECUTION_PROVIDERS: ['cuda', 'webgpu', 'cpu'],
      MAX_BATCH: 4,
      GPU_MAX_BATCH: 8,
      ORT_WEBGPU_LAYOUT: 'NCHW',
      ORT_WEBGPU_GRAPH_CAPTURE: false,
      PNG_COMPRESSION: 'balanced',
      LOG_FORMAT: 'auto',
      CORS_ORIGINS: [],
      ORT_GRAPH_OPTIMIZATION: 'all',
      ORT_ENABLE_CPU_MEM_ARENA: true,
    });
    expect(c.API_KEY).toBeUndefined();
  });

  it('reads and coerces environment variables, ignoring unrelated ones', () => {
    const c = loadConfig({
      PORT: '8080',
      EXECUTION_PROVIDERS: 'cpu',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      ORT_ENABLE_CPU_MEM_ARENA: 'false',
      ORT_INTRA_OP_THREADS: '2',
      PATH: '/usr/bin',
    });
    expect(c.PORT).toBe(8080);
    expect(c.EXECUTION_PROVIDERS).toEqual(['cpu']);
    expect(c.CORS_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
    expect(c.ORT_ENABLE_CPU_MEM_ARENA).toBe(false);
    expect(c.ORT_INTRA_OP_THREADS).toBe(2);
  });

  it('reads a YAML or JSON CONFIG_FILE, with the environment taking precedence', async () => {
    const yamlFile = path.join(dir, 'serve.yaml');
    await fs.writeFile(yamlFile, 'PORT: 4000\nMAX_BATCH: 8\nEXECUTION_PROVIDERS: [webgpu, cpu]\n');
    const c = loadConfig({ CONFIG_FILE: yamlFile, MAX_BATCH: '2' });
    expect(c.PORT).toBe(4000);
    expect(c.MAX_BATCH).toBe(2);
    expect(c.EXECUTION_PROVIDERS).toEqual(['webgpu', 'cpu']);
    const jsonFile = path.join(dir, 'serve.json');
    await fs.writeFile(jsonFile, JSON.stringify({ MODELS_DIR: '/srv/models', REQUEST_TIMEOUT_MS: 1500 }));
    expect(loadConfig({ CONFIG_FILE: jsonFile })).toMatchObject({
      MODELS_DIR: '/srv/models',
      REQUEST_TIMEOUT_MS: 1500,
    });
  });

  it('explains bad settings in one line naming the setting', async () => {
    expect(fails({ PORT: 'eighty' })).toMatch(/^config: PORT: .*\(got "eighty"\)$/);
    expect(fails({ PORT: '70000' })).toMatch(/^config: PORT: /);
    expect(fails({ EXECUTION_PROVIDERS: 'cuda,tpu' })).toMatch(/^config: EXECUTION_PROVIDERS\.1: /);
    expect(fails({ EXECUTION_PROVIDERS: ' , ' })).toMatch(/^config: EXECUTION_PROVIDERS: at least one provider/);
    expect(fails({ MAX_BATCH: '0' })).toMatch(/^config: MAX_BATCH: /);
    expect(fails({ ORT_ENABLE_CPU_MEM_ARENA: 'maybe' })).toMatch(/^config: ORT_ENABLE_CPU_MEM_ARENA: /);
    expect(fails({ CONFIG_FILE: path.join(dir, 'missing.yaml') })).toMatch(
      /^config: CONFIG_FILE .*missing\.yaml: ENOENT$/,
    );
    const bad = path.join(dir, 'bad.yaml');
    await fs.writeFile(bad, 'PORT: 1\nMAX_BACH: 3\n');
    expect(fails({ CONFIG_FILE: bad })).toBe('config: unknown setting MAX_BACH');
    const list = path.join(dir, 'list.yaml');
    await fs.writeFile(list, '- 1\n- 2\n');
    expect(fails({ CONFIG_FILE: list })).toMatch(/expected a mapping of settings$/);
  });

  it('never echoes the API key in errors', () => {
    const msg = fails({ API_KEY: 'short' });
    expect(msg).toMatch(/^config: API_KEY: /);
    expect(msg).not.toContain('short');
  });
});
