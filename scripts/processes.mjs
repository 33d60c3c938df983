/**
 * Helpers shared by the plain Node scripts (bench, image layout check): free
 * ports, a private redis-server, and children and temp dirs that never
 * outlive the script (killed and removed at exit, whatever the outcome).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set();
const dirs = [];
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Kills `child` at exit if it still runs; returns it. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A throwaway redis-server (no persistence) on a free port in a temp dir. */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'npchat-redis-'));
  dirs.push(dir);
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
  const proc = track(
    spawn('redis-server', [...args, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
  );
  await sleep(300);
  return { proc, port, url: `redis://127.0.0.1:${port}` };
}
