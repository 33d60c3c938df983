import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track } from './cleanup.js';

/** The built CLI (npm test builds first). */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first stdout line that matches. */
  line(pattern: RegExp, ms?: number): Promise<string>;
}

export function runMain(args: string[], env: Record<string, string> = {}): Child {
  const proc = track(
    spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  const listeners: (() => void)[] = [];
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    for (const l of [...listeners]) l();
  });
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    line(pattern, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = out.split('\n').find((l) => pattern.test(l));
          if (found !== undefined) {
            clearTimeout(timer);
            listeners.splice(listeners.indexOf(check), 1);
            resolve(found);
          }
        };
        const timer = setTimeout(
          () => reject(new Error(`no line ${pattern} in time; stdout: ${out} stderr: ${err}`)),
          ms,
        );
        listeners.push(check);
        check();
      });
    },
  };
}

/** Rate limits off (every test talks from 127.0.0.1); flags and `env` may turn them on. */
export const NO_RATE_LIMITS_ENV: Record<string, string> = {
  NPCHAT_POST_RATE: '0',
  NPCHAT_INBOX_RATE: '0',
  NPCHAT_HANDSHAKE_RATE: '0',
  NPCHAT_AUTH_FAILURES: '0',
  NPCHAT_PREKEY_RATE: '0',
  NPCHAT_FETCH_RATE: '0',
  NPCHAT_MAX_CONNECTIONS_PER_ADDRESS: '100000',
};

/** Starts the relay as a child process on a free port; resolves with its base URL. */
export async function spawnRelay(args: string[] = [], env: Record<string, string> = {}) {
  const child = runMain(['--port', '0', '--host', '127.0.0.1', ...args], {
    ...NO_RATE_LIMITS_ENV,
    ...env,
  });
  const line = await child.line(/"msg":"listening"/);
  const { port } = JSON.parse(line) as { port: number };
  return { child, url: `http://127.0.0.1:${port}`, port };
}
