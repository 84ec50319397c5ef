/**
 * The server's log: human-readable lines (pino-pretty: time, level, message, fields) when stdout
 * is a terminal, one JSON object per line otherwise (log collectors, `npm start | tee`);
 * LOG_FORMAT=json|pretty decides instead of the terminal check. Lines are formatted and written
 * synchronously, as pino writes JSON, so a line logged just before `process.exit` is not lost.
 */
import pino, { type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `auto`: pretty exactly when the output is a terminal. */
export function resolveLogFormat(setting: LogFormat, isTerminal: boolean): 'json' | 'pretty' {
  if (setting !== 'auto') return setting;
  return isTerminal ? 'pretty' : 'json';
}

/** A logger at `level` writing to `out` (default: stdout, as pino does) in the format LOG_FORMAT resolves to. */
export function createServerLogger(
  o: { level: string; format: LogFormat },
  out?: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>,
): Logger {
  const terminal = (out ?? process.stdout).isTTY === true;
  if (resolveLogFormat(o.format, terminal) === 'json')
    return out ? pino({ level: o.level }, out) : pino({ level: o.level });
  const pretty = prettyFactory({ colorize: terminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  const target = out ?? process.stdout;
  return pino({ level: o.level }, { write: (line: string) => void target.write(pretty(line)) });
}
