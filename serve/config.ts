/**
 * Server configuration: built-in defaults, then an optional `CONFIG_FILE` (JSON or YAML, same
 * UPPER_SNAKE keys as the environment), then environment variables. Validated once at start;
 * any problem is one line naming the setting.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import YAML from 'yaml';
import { firstLine } from '../core/errorText';
import { DEFAULT_MAX_INPUT_PIXELS, DEFAULT_MAX_PIXELS } from '../inference/preprocess';
import { DEFAULT_PNG_LEVEL, PNG_LEVEL_NAMES } from '../inference/postprocess';
import { LOG_FORMATS } from './serverLogger';
import { DEFAULT_TILING, STATS_MODES } from '../inference/tiling/tiledTranslate';
import { DEFAULT_EXECUTION_PROVIDERS } from '../inference/providers';
import { commaSeparated } from '../core/cli/fields';
import { toBoolean, toNumber } from '../core/config/coerce';
import { EXECUTION_PROVIDERS, type SessionSettings } from '../core/onnx/ortRuntime';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess((v) => toNumber(v), z.number().int().min(min).max(max));

/** A list given either as an array (config file) or a comma-separated string (environment). */
function list<T extends z.ZodTypeAny>(item: T) {
  return z.preprocess(commaSeparated, z.array(item));
}

const bool = z.preprocess(toBoolean, z.boolean());

const schema = z
  .object({
    PORT: int(0, 65535).default(3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    MODELS_DIR: z.string().min(1).default('./models'),
    /**
     * `poll`: model folders added to, replaced in or removed from MODELS_DIR are loaded or dropped
     * while serving (watched, and scanned every MODELS_POLL_MS), once unchanged for MODELS_SETTLE_MS;
     * `explicit`: only POST /v1/models/{name}/load and /unload change what is loaded (Triton's modes).
     */
    MODEL_CONTROL: z.enum(['poll', 'explicit']).default('poll'),
    MODELS_POLL_MS: int(100, 3_600_000).default(2000),
    MODELS_SETTLE_MS: int(0, 600_000).default(1000),
    /** Model used when a request names none; default the alphabetically first loaded model. */
    DEFAULT_MODEL: z.string().min(1).optional(),
    /** Tried in order; the first that works for a model is used (onnxruntime does not fall back by itself). */
    EXECUTION_PROVIDERS: list(z.enum(EXECUTION_PROVIDERS))
      .refine((a) => a.length > 0, 'at least one provider')
      .default([...DEFAULT_EXECUTION_PROVIDERS]),
    MAX_UPLOAD_BYTES: int(1).default(20 * 1024 * 1024),
    /** Largest processing size: width × height the network runs at (after the resize). */
    MAX_PIXELS: int(1).default(DEFAULT_MAX_PIXELS),
    /** Largest decoded input image (width × height, read from the header before decoding). */
    MAX_INPUT_PIXELS: int(1).default(DEFAULT_MAX_INPUT_PIXELS),
    /**
     * Tiled execution (inference/tiling): processing sizes above TILE_PIXELS run as tiles of that many
     * pixels (halo included) with instance-norm statistics shared across tiles, measured on the image
     * point-subsampled (`subsampled`) or bicubic-reduced (`downscaled`) to a long side of TILE_STATS_SIDE,
     * or exactly, layer by layer (`exact`, slower).
     */
    TILE_PIXELS: int(4096).default(DEFAULT_TILING.tilePixels),
    TILE_STATS: z.enum(STATS_MODES).default(DEFAULT_TILING.stats),
    TILE_STATS_SIDE: int(16).default(DEFAULT_TILING.statsSide),
    MAX_BATCH: int(1, 256).default(4),
    /** MAX_BATCH for a model that runs on a GPU provider (larger batches pay off there: bench/README.md). */
    GPU_MAX_BATCH: int(1, 256).default(8),
    MAX_BATCH_DELAY_MS: int(0, 10_000).default(5),
    /**
     * Hard cap on requests waiting per model (each holds its input tensor). Below it a request is
     * refused (503) only when its expected wait would pass REQUEST_TIMEOUT_MS.
     */
    MAX_QUEUE: int(1).default(256),
    REQUEST_TIMEOUT_MS: int(1).default(30_000),
    /** How long SIGTERM waits for in-flight requests before giving up. */
    SHUTDOWN_TIMEOUT_MS: int(0).default(30_000),
    API_KEY: z.string().min(8, 'must be at least 8 characters').optional(),
    /** Origins allowed by CORS (`*` for any); empty: no CORS headers (same-origin only). */
    CORS_ORIGINS: list(z.string().min(1)).default([]),
    /** onnxruntime threads per session; 0 lets onnxruntime choose (one per core). */
    ORT_INTRA_OP_THREADS: int(0, 1024).default(0),
    ORT_INTER_OP_THREADS: int(0, 1024).default(0),
    ORT_GRAPH_OPTIMIZATION: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
    ORT_ENABLE_CPU_MEM_ARENA: bool.default(true),
    ORT_ENABLE_MEM_PATTERN: bool.default(true),
    /** Layout the WebGPU provider runs convolutions in (onnxruntime's default NCHW; gpu:check times both). */
    ORT_WEBGPU_LAYOUT: z.enum(['NCHW', 'NHWC']).default('NCHW'),
    /** WebGPU graph capture: replays recorded GPU work; only for fixed input shapes (MAX_BATCH 1, one size). */
    ORT_WEBGPU_GRAPH_CAPTURE: bool.default(false),
    /** PNG responses: balanced (filtered deflate), fast (stored), small (slower, a few % smaller); bench/README.md. */
    PNG_COMPRESSION: z.enum(PNG_LEVEL_NAMES).default(DEFAULT_PNG_LEVEL),
    /** onnxruntime's own (native) log level; `error` and below print provider-loading noise. */
    ORT_LOG_LEVEL: z.enum(['verbose', 'info', 'warning', 'error', 'fatal']).default('fatal'),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Log lines: `pretty` (human-readable), `json` (one object per line), `auto`: pretty when stdout is a terminal. */
    LOG_FORMAT: z.enum(LOG_FORMATS).default('auto'),
  })
  .strict();

export type Config = z.infer<typeof schema>;
export const CONFIG_KEYS = Object.keys(schema.shape) as (keyof Config)[];

export class ConfigError extends Error {}

function oneLine(e: z.ZodError, source: Record<string, unknown>): string {
  const issue = e.issues[0];
  const key = issue.path.join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') return `config: unknown setting ${issue.keys.join(', ')}`;
  const given = issue.path.length > 0 ? source[String(issue.path[0])] : undefined;
  const secret = key === 'API_KEY';
  const shown = given === undefined || secret ? '' : ` (got ${JSON.stringify(given)})`;
  return `config: ${key}: ${issue.message}${shown}`;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`config: CONFIG_FILE ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`config: CONFIG_FILE ${file}: ${firstLine(e)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(`config: CONFIG_FILE ${file}: expected a mapping of settings`);
  return parsed as Record<string, unknown>;
}

/**
 * Builds the configuration from `env` (only the known keys are read from it, so unrelated
 * variables don't matter) over `CONFIG_FILE` over defaults, plus `overrides` for programmatic use.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const fromFile = env.CONFIG_FILE ? readConfigFile(env.CONFIG_FILE) : {};
  const fromEnv: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) {
    const v = env[k];
    if (v !== undefined && v !== '') fromEnv[k] = v;
  }
  const merged = { ...fromFile, ...fromEnv, ...overrides };
  const r = schema.safeParse(merged);
  if (!r.success) throw new ConfigError(oneLine(r.error, merged));
  return r.data;
}

/** The onnxruntime session settings named by the ORT_* keys. */
export function sessionSettings(c: Config): SessionSettings {
  return {
    intraOpThreads: c.ORT_INTRA_OP_THREADS,
    interOpThreads: c.ORT_INTER_OP_THREADS,
    graphOptimization: c.ORT_GRAPH_OPTIMIZATION,
    cpuMemArena: c.ORT_ENABLE_CPU_MEM_ARENA,
    memPattern: c.ORT_ENABLE_MEM_PATTERN,
    webgpuLayout: c.ORT_WEBGPU_LAYOUT,
    webgpuGraphCapture: c.ORT_WEBGPU_GRAPH_CAPTURE,
  };
}
