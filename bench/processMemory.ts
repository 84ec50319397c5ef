/**
 * What the memory benchmarks and tests share: how `npm start` runs the server (the start script's
 * environment assignments and node arguments, so a spawned server is the real one) and a process's
 * resident memory from /proc (Linux).
 */
import { readFileSync } from 'node:fs';
import pkg from '../package.json';

/** `npm start` split into its environment assignments (e.g. MALLOC_MMAP_THRESHOLD_) and node's arguments. */
export function npmStartCommand(): { env: Record<string, string>; args: string[] } {
  const m = /^((?:\w+=\S+\s+)*)node\s+(.*)$/.exec(pkg.scripts.start);
  if (!m) throw new Error(`unexpected start script: ${pkg.scripts.start}`);
  const env = Object.fromEntries(
    m[1]
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => a.split('=') as [string, string]),
  );
  return { env, args: m[2].trim().split(/\s+/) };
}

/** A /proc/PID/status memory field in MB: VmRSS (resident now) or VmHWM (peak resident). */
export function procMemoryMb(pid: number | 'self' = 'self', field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}
