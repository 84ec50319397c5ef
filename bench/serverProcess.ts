/**
 * `serve/main.ts` in a process of its own for the serving benchmarks (bench:serve, bench:soak):
 * started on 127.0.0.1 at a free port with the given settings, resolved once /readyz answers 200.
 * The child is node itself (not the tsx wrapper), so its pid is the server's (RSS in /proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

export async function startServerProcess(
  settings: Record<string, string>,
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'serve/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', API_KEY: '', CONFIG_FILE: '', LOG_LEVEL: 'info', ...settings },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
        if (out.length > 1e6) out = out.slice(-1e4);
      });
      child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening`)));
    });
    for (let i = 0; (await fetch(`${base}/readyz`)).status !== 200; i++) {
      if (i > 600) throw new Error('server not ready after 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, base };
  } catch (e) {
    child.kill('SIGTERM');
    throw e;
  }
}
