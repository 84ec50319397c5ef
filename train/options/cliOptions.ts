/**
 * Command lines generated from the option schemas in core/config/options.ts: one commander flag per
 * schema key, spelled exactly as the official scripts spell it (`--n_layers_D`, `--lambda_A`), with
 * a kebab-case spelling accepted too (`--n-layers-d`, `--lambda-a`). Booleans are presence flags
 * like argparse's store_true; `--flag=false` turns off one whose default is true (`--no_dropout`).
 * Values are validated by the schema, so every error is one line naming the flag.
 */
import { Command, CommanderError, Option, type Help } from 'commander';
import { z } from 'zod';
import {
  parseOptionsWith,
  testOptionsSchema,
  trainOptionsSchema,
  type TestOptions,
  type TrainOptions,
} from '../../core/config/options';

/** Thrown by the parsers when `-h`/`--help` was given; `text` is the help to print. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

export interface CliSpec<S extends z.ZodTypeAny> {
  /** Program name shown in the usage line, e.g. `npm run train --`. */
  program: string;
  summary: string;
  /** A strict zod object, optionally wrapped in refinements (superRefine). */
  schema: S;
}

interface FlagInfo {
  key: string;
  boolean: boolean;
  placeholder: string;
  help: string;
}

function objectShape(schema: z.ZodTypeAny): z.ZodRawShape {
  let t: z.ZodTypeAny = schema;
  while (t instanceof z.ZodEffects) t = t.innerType();
  if (!(t instanceof z.ZodObject)) throw new Error('option schema must be a zod object');
  return t.shape as z.ZodRawShape;
}

function formatDefault(v: unknown): string {
  if (v === Infinity) return 'inf';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** What the command line needs to know about one schema field. */
function flagInfo(key: string, field: z.ZodTypeAny): FlagInfo {
  let t: z.ZodTypeAny = field;
  let description: string | undefined;
  let hasDefault = false;
  let defaultValue: unknown;
  let optional = false;
  for (;;) {
    description ??= t.description;
    if (t instanceof z.ZodDefault) {
      hasDefault = true;
      defaultValue = t._def.defaultValue();
      t = t._def.innerType;
    } else if (t instanceof z.ZodOptional) {
      optional = true;
      t = t.unwrap();
    } else if (t instanceof z.ZodEffects) {
      t = t.innerType();
    } else break;
  }
  const boolean = t instanceof z.ZodBoolean;
  const choices = t instanceof z.ZodEnum ? (t.options as string[]) : undefined;
  const placeholder = choices ? '<choice>' : t instanceof z.ZodNumber ? '<n>' : '<str>';
  let help = description ?? '';
  if (choices) help += ` (one of: ${choices.join(', ')})`;
  if (hasDefault) help += ` (default: ${formatDefault(defaultValue)})`;
  else if (!optional) help += ' (required)';
  return { key, boolean, placeholder, help: help.trim() };
}

/** `n_layers_D` → `n-layers-d`, `netG` → `net-g`; null when the name has no other spelling. */
export function kebabAlias(key: string): string | null {
  const k = key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
  return k === key ? null : k;
}

function helpFooter(flags: Map<string, FlagInfo>): string {
  const lines: string[] = [];
  const withAlias = [...flags.keys()].filter((k) => kebabAlias(k)).slice(0, 2);
  if (withAlias.length > 0) {
    const examples = withAlias.map((k) => `--${kebabAlias(k)} for --${k}`).join(', ');
    lines.push(`Every flag also accepts a kebab-case spelling (e.g. ${examples}).`);
  }
  if ([...flags.values()].some((f) => f.boolean))
    lines.push('Boolean flags need no value; --flag=false sets one to false.');
  return lines.length ? `\n${lines.join('\n')}` : '';
}

/** Rewrites kebab-case spellings to the official ones, leaving option values untouched. */
function canonicalArgv(argv: readonly string[], flags: Map<string, FlagInfo>): string[] {
  const alias = new Map<string, string>();
  for (const f of flags.values()) {
    const a = kebabAlias(f.key);
    if (a) alias.set(a, f.key);
  }
  const out: string[] = [];
  let valueNext = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (valueNext || !arg.startsWith('--')) {
      out.push(arg);
      valueNext = false;
      continue;
    }
    if (arg === '--') {
      out.push(...argv.slice(i)); // end of options: pass the rest through
      break;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const key = flags.has(name) ? name : alias.get(name);
    if (key === undefined) {
      out.push(arg);
      continue;
    }
    out.push(`--${key}${eq < 0 ? '' : arg.slice(eq)}`);
    valueNext = eq < 0 && !flags.get(key)!.boolean;
  }
  return out;
}

function buildCommand<S extends z.ZodTypeAny>(spec: CliSpec<S>, flags: Map<string, FlagInfo>, out: { text: string }) {
  const cmd = new Command(spec.program)
    .description(spec.summary)
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (out.text += s),
      writeErr: () => undefined,
      outputError: () => undefined,
    })
    .configureHelp({
      helpWidth: 120,
      // Booleans accept an optional value (`--no_dropout=false`) but read as presence flags.
      optionTerm: (o: Option) => (o.long && flags.get(o.long.slice(2))?.boolean ? o.long : o.flags),
    } as Partial<Help>)
    .addHelpText('after', helpFooter(flags));
  for (const f of flags.values()) {
    cmd.addOption(new Option(f.boolean ? `--${f.key} [bool]` : `--${f.key} ${f.placeholder}`, f.help));
  }
  return cmd;
}

/** Which flags a schema has, in schema order. */
function schemaFlags(schema: z.ZodTypeAny): Map<string, FlagInfo> {
  const flags = new Map<string, FlagInfo>();
  for (const [key, field] of Object.entries(objectShape(schema))) flags.set(key, flagInfo(key, field));
  return flags;
}

/** The `--help` text of a spec. */
export function helpText<S extends z.ZodTypeAny>(spec: CliSpec<S>): string {
  const flags = schemaFlags(spec.schema);
  const out = { text: '' };
  return `${buildCommand(spec, flags, out).helpInformation()}${helpFooter(flags)}\n`;
}

export interface ParsedArgv<T> {
  options: T;
  /** Keys given explicitly on the command line (the rest are defaults). */
  given: string[];
}

/**
 * Parses user arguments (`process.argv.slice(2)`) against a schema. Throws `HelpRequested` for
 * `--help`, otherwise an Error with a one-line message for any bad or unknown flag.
 */
export function parseArgvWith<S extends z.ZodTypeAny>(
  spec: CliSpec<S>,
  argv: readonly string[],
): ParsedArgv<z.output<S>> {
  const flags = schemaFlags(spec.schema);
  const out = { text: '' };
  const cmd = buildCommand(spec, flags, out);
  try {
    cmd.parse(canonicalArgv(argv, flags), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') throw new HelpRequested(out.text);
      throw new Error(e.message.replace(/^error:\s*/, '').replace(/\s*\n\s*/g, ' '));
    }
    throw e;
  }
  const raw = cmd.opts() as Record<string, unknown>;
  return { options: parseOptionsWith(spec.schema, raw), given: Object.keys(raw) };
}

export const trainCli: CliSpec<typeof trainOptionsSchema> = {
  program: 'npm run train --',
  summary: 'Train a CycleGAN on DATAROOT/trainA and DATAROOT/trainB (options as in the official train.py).',
  schema: trainOptionsSchema,
};

export const testCli: CliSpec<typeof testOptionsSchema> = {
  program: 'npm run test-translate --',
  summary: 'Translate DATAROOT/testA (or testB with --direction BtoA) with a trained checkpoint.',
  schema: testOptionsSchema,
};

export function parseTrainArgv(argv: readonly string[]): TrainOptions {
  return parseArgvWith(trainCli, argv).options as TrainOptions;
}

export function parseTrainArgvDetailed(argv: readonly string[]): ParsedArgv<TrainOptions> {
  return parseArgvWith(trainCli, argv) as ParsedArgv<TrainOptions>;
}

export function parseTestArgv(argv: readonly string[]): TestOptions {
  return parseArgvWith(testCli, argv).options as TestOptions;
}

/**
 * For CLI entry points: runs `parse`, prints help and exits 0 on `--help`, prints `error: <msg>`
 * and exits 2 on a bad command line.
 */
export function parseArgvOrExit<T>(
  parse: (argv: readonly string[]) => T,
  argv: readonly string[] = process.argv.slice(2),
): T {
  try {
    return parse(argv);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.text);
      process.exit(0);
    }
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
