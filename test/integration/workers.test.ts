/** --workers: several processes share the port on one Redis; SIGTERM stops them all. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { authedSocket, postText, waitFor } from '../helpers/socket.js';
import { runMain } from '../helpers/spawn.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

function listening(stdout: string): { pid: number; port: number }[] {
  return stdout
    .split('\n')
    .filter((l) => l.includes('"msg":"listening"'))
    .map((l) => JSON.parse(l) as { pid: number; port: number });
}

describe('workers', () => {
  it('runs N workers on one port, replaces a dead one, and stops on SIGTERM with 0', async () => {
    const child = runMain(['--port', '0', '--host', '127.0.0.1', '--workers', '2'], {
      NPCHAT_REDIS_URL: server.url,
      NPCHAT_REDIS_PREFIX: uniquePrefix(),
    });
    try {
      await waitFor(() => listening(child.stdout()).length === 2, 15_000);
      const [w1, w2] = listening(child.stdout()) as [
        { pid: number; port: number },
        { pid: number; port: number },
      ];
      expect(w1.pid).not.toBe(w2.pid);
      expect(w1.port).toBe(w2.port);
      const url = `http://127.0.0.1:${w1.port}`;

      const keys = generateKeys();
      // Whichever worker holds the socket, posts through any worker reach it.
      const s = await authedSocket(url.replace('http', 'ws'), keys);
      for (let i = 0; i < 6; i++) expect((await postText(url, keys.id, `w${i}`)).status).toBe(200);
      for (let i = 0; i < 6; i++) expect((await s.next()).text).toBe(`w${i}`);

      process.kill(w1.pid, 'SIGKILL');
      await waitFor(() => listening(child.stdout()).length === 3, 15_000);
      expect(child.stdout()).toContain('worker died; starting another');

      child.proc.kill('SIGTERM');
      expect(await child.exited).toBe(0);
      expect((await s.closed).code).toBeGreaterThan(0);
    } finally {
      child.proc.kill('SIGKILL');
    }
  });

  it('refuses more than one worker without Redis, saying why (exit 2)', async () => {
    const child = runMain(['--workers', '2']);
    expect(await child.exited).toBe(2);
    expect(child.stderr()).toMatch(/needs Redis/);
  });
});
