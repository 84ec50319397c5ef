/**
 * Every command line of the project is declared here the same way: a strict zod object whose keys
 * are the flags. From it come the commander parser, the `--help` text (one layout: every flag with
 * its description, choices, default and environment variable, required ones marked), the checks
 * (the schema's, with one-line messages from core/cli/errors.ts) and the exit statuses (EXIT).
 *
 * Flags are spelled as the keys — the official snake_case names (`--n_layers_D`, `--batch_size`) —
 * and a kebab-case spelling is accepted too (`--n-layers-d`, `--batch-size`). Booleans are presence
 * flags like argparse's store_true; `--flag=false` turns off one that is on by default.
 */
import { Command, CommanderError, Option, type Help } from 'commander';
import { z } from 'zod';
import pkg from '../../package.json';
import { parseOptionsWith } from '../config/options';
import { firstLine } from '../errorText';
import { EXIT, UsageError } from './errors';

export interface CommandSpec<S extends z.ZodTypeAny> {
  /** Short name that prefixes messages: `train: error: ...`. */
  name: string;
  /** How it is run, shown in the usage line, e.g. `npm run train --`. */
  program: string;
  summary: string;
  /** A strict zod object, optionally wrapped in refinements (superRefine). */
  schema: S;
  /** Flags that fall back to an environment variable when not given. */
  env?: Partial<Record<keyof z.input<S> & string, string>>;
  /** Value placeholders shown in help (`--input <dir>`); default `<n>`, `<choice>` or `<str>`. */
  placeholders?: Partial<Record<keyof z.input<S> & string, string>>;
  /** Exit statuses beyond 0/1/2 that this command uses, with what they mean. */
  exits?: { partial?: string; interrupted?: string };
  /** `immediately`: process.exit() once main returns (worker threads or native handles may linger). */
  exit?: 'immediately';
}

/** Thrown by the parsers when `-h`/`--help` (or `--version`) was given; `text` is what to print. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

interface FlagInfo {
  key: string;
  boolean: boolean;
  help: string;
  placeholder: string;
  required: boolean;
}

function objectShape(schema: z.ZodTypeAny): z.ZodRawShape {
  let t: z.ZodTypeAny = schema;
  while (t instanceof z.ZodEffects) t = t.innerType();
  if (!(t instanceof z.ZodObject)) throw new Error('option schema must be a zod object');
  return t.shape as z.ZodRawShape;
}

function formatDefault(v: unknown): string {
  if (v === Infinity) return 'inf';
  if (Array.isArray(v)) return v.join(',');
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** What the command line needs to know about one schema field. */
function flagInfo(key: string, field: z.ZodTypeAny, env?: string, placeholder?: string): FlagInfo {
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
  const notes: string[] = [];
  if (choices) notes.push(`one of: ${choices.join(', ')}`);
  if (boolean) {
    // A presence flag: off unless given, or on by default (the footer says how to turn one off).
    if (hasDefault && defaultValue === true) notes.push('on by default');
  } else if (hasDefault) notes.push(`default: ${formatDefault(defaultValue)}`);
  if (env) notes.push(`env: ${env}`);
  const required = !hasDefault && !optional && !boolean && !env;
  if (required) notes.push('required');
  const help = [description ?? '', ...notes.map((n) => `(${n})`)].join(' ').trim();
  return {
    key,
    boolean,
    help,
    required,
    placeholder: placeholder ?? (choices ? '<choice>' : t instanceof z.ZodNumber ? '<n>' : '<str>'),
  };
}

/** `n_layers_D` → `n-layers-d`, `netG` → `net-g`; null when the name has no other spelling. */
export function kebabAlias(key: string): string | null {
  const k = key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
  return k === key ? null : k;
}

function exitLine(spec: CommandSpec<z.ZodTypeAny>): string {
  const parts = ['0 done', `${EXIT.failure} failed`, `${EXIT.usage} bad command line`];
  if (spec.exits?.partial) parts.push(`${EXIT.partial} ${spec.exits.partial}`);
  if (spec.exits?.interrupted) parts.push(`${EXIT.interrupted} ${spec.exits.interrupted}`);
  return `Exit status: ${parts.join(', ')}.`;
}

function helpFooter(spec: CommandSpec<z.ZodTypeAny>, flags: Map<string, FlagInfo>): string {
  const lines: string[] = [];
  const withAlias = [...flags.keys()].filter((k) => kebabAlias(k)).slice(0, 2);
  if (withAlias.length > 0) {
    const examples = withAlias.map((k) => `--${kebabAlias(k)} for --${k}`).join(', ');
    lines.push(`Every flag also accepts a kebab-case spelling (e.g. ${examples}).`);
  }
  if ([...flags.values()].some((f) => f.boolean)) lines.push('Switches need no value; --switch=false turns one off.');
  lines.push(exitLine(spec));
  return `\n${lines.join('\n')}`;
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

function buildCommand(spec: CommandSpec<z.ZodTypeAny>, flags: Map<string, FlagInfo>, out: { text: string }) {
  const required = [...flags.values()].filter((f) => f.required);
  const cmd = new Command(spec.program)
    .description(spec.summary)
    .usage([...required.map((f) => `--${f.key} ${f.placeholder}`), '[options]'].join(' '))
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
      // Switches accept an optional value (`--no_flip=false`) but read as presence flags.
      optionTerm: (o: Option) => (o.long && flags.get(o.long.slice(2))?.boolean ? o.long : o.flags),
    } as Partial<Help>);
  for (const f of flags.values()) {
    cmd.addOption(new Option(f.boolean ? `--${f.key} [bool]` : `--${f.key} ${f.placeholder}`, f.help));
  }
  // A command with its own `version` option (data:emoji: the emoji packages' version) keeps it.
  return flags.has('version') ? cmd : cmd.version(pkg.version, '--version', 'print the version');
}

/** Which flags a spec has, in schema order. */
function specFlags(spec: CommandSpec<z.ZodTypeAny>): Map<string, FlagInfo> {
  const env = (spec.env ?? {}) as Record<string, string | undefined>;
  const placeholders = (spec.placeholders ?? {}) as Record<string, string | undefined>;
  const flags = new Map<string, FlagInfo>();
  for (const [key, field] of Object.entries(objectShape(spec.schema)))
    flags.set(key, flagInfo(key, field, env[key], placeholders[key]));
  return flags;
}

/** The `--help` text of a spec. */
export function helpText<S extends z.ZodTypeAny>(spec: CommandSpec<S>): string {
  const flags = specFlags(spec);
  return `${buildCommand(spec, flags, { text: '' }).helpInformation()}${helpFooter(spec, flags)}\n`;
}

export interface ParsedCommandLine<T> {
  options: T;
  /** Keys given on the command line or through their environment variable (the rest are defaults). */
  given: string[];
}

/**
 * Parses user arguments (`process.argv.slice(2)`) against a spec. Throws `HelpRequested` for
 * `--help`/`--version`, and a `UsageError` with a one-line message for any bad or unknown flag.
 */
export function parseCommandLine<S extends z.ZodTypeAny>(
  spec: CommandSpec<S>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
): ParsedCommandLine<z.output<S>> {
  const flags = specFlags(spec);
  const out = { text: '' };
  const cmd = buildCommand(spec, flags, out);
  try {
    cmd.parse(canonicalArgv(argv, flags), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(e.code))
        throw new HelpRequested(e.code === 'commander.version' ? out.text : `${out.text}${helpFooter(spec, flags)}\n`);
      throw new UsageError(e.message.replace(/^error:\s*/, '').replace(/\s*\n\s*/g, ' '));
    }
    throw e;
  }
  const raw = cmd.opts() as Record<string, unknown>;
  for (const [key, variable] of Object.entries(spec.env ?? {}) as [string, string][]) {
    const v = env[variable];
    if (raw[key] === undefined && v !== undefined && v !== '') raw[key] = v;
  }
  try {
    return { options: parseOptionsWith(spec.schema, raw), given: Object.keys(raw) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface CommandContext {
  /** Prints `<name>: <message>` on stderr. */
  log: (message: string) => void;
  given: string[];
}

/**
 * Runs a command: parses `process.argv` against the spec (help → stdout, exit 0; a bad command
 * line → one line on stderr, exit 2), then `main`, whose return value is the exit status (default
 * 0). Anything `main` throws is one line on stderr and exit 1 (2 for a UsageError).
 */
export function runCommand<S extends z.ZodTypeAny>(
  spec: CommandSpec<S>,
  main: (options: z.output<S>, ctx: CommandContext) => Promise<number | void> | number | void,
  argv: readonly string[] = process.argv.slice(2),
): void {
  const log = (m: string) => process.stderr.write(`${spec.name}: ${m}\n`);
  const finish = (code: number) => {
    process.exitCode = code;
    if (spec.exit === 'immediately') process.exit(code);
  };
  let parsed: ParsedCommandLine<z.output<S>>;
  try {
    parsed = parseCommandLine(spec, argv, process.env);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.text);
      return finish(EXIT.ok);
    }
    if (!(e instanceof UsageError)) throw e;
    log(`error: ${e.message} (see --help)`);
    return finish(EXIT.usage);
  }
  Promise.resolve()
    .then(() => main(parsed.options, { log, given: parsed.given }))
    .then(
      (code) => finish(code ?? EXIT.ok),
      (e: unknown) => {
        log(`error: ${firstLine(e)}`);
        finish(e instanceof UsageError ? EXIT.usage : EXIT.failure);
      },
    );
}
