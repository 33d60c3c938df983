/**
 * NPCHAT_REDIS_URL=rediss://: the scale-out engine over TLS, with the
 * server's certificate verified (a relay that cannot verify it stores
 * nothing and answers 503).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { selfSignedCert } from '../helpers/certs.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { authedSocket, postText } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

let cert: string;
let key: string;

/** Polls GET /ready until it answers `status` (or gives up after `ms`). */
async function readyIs(url: string, status: number, ms = 10_000): Promise<number> {
  const deadline = Date.now() + ms;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await fetch(`${url}/ready`)).status;
    if (last === status) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  return last;
}

describe('Redis over TLS (rediss://)', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    ({ cert, key } = selfSignedCert('npchat-redis-tls-'));
    server = await startRedis({ tls: { cert, key } });
    admin = new Redis(server.url); // the plain port, to look inside
  }, 30_000);
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it('stores and delivers through a TLS connection it verified', async () => {
    const prefix = uniquePrefix();
    const relay = await spawnRelay([], {
      NPCHAT_REDIS_URL: `rediss://127.0.0.1:${server.tlsPort}`,
      NPCHAT_REDIS_PREFIX: prefix,
      NODE_EXTRA_CA_CERTS: cert, // the test CA, trusted as an operator would
    });
    try {
      expect(await readyIs(relay.url, 200)).toBe(200);
      const keys = generateKeys();
      expect((await postText(relay.url, keys.id, 'over tls')).status).toBe(200);
      expect((await admin.keys(`${prefix}*`)).length).toBeGreaterThan(0);
      const s = await authedSocket(relay.url.replace(/^http/, 'ws'), keys);
      expect((await s.next()).text).toBe('over tls');
      s.close();
      // The relay's connections came in on the TLS port (commands and subscriber).
      const clients = (await admin.client('LIST')) as string;
      const onTls = clients
        .split('\n')
        .filter((line) => line.includes(` laddr=127.0.0.1:${server.tlsPort} `));
      expect(onTls.length).toBeGreaterThanOrEqual(2);
    } finally {
      relay.child.proc.kill('SIGTERM');
      await relay.child.exited;
    }
  }, 30_000);

  it('refuses a server certificate it cannot verify: 503, nothing stored', async () => {
    const prefix = uniquePrefix();
    const relay = await spawnRelay([], {
      NPCHAT_REDIS_URL: `rediss://127.0.0.1:${server.tlsPort}`,
      NPCHAT_REDIS_PREFIX: prefix,
    });
    try {
      const line = await relay.child.line(/"msg":"redis error"/);
      expect(line).toMatch(/certificate/);
      expect(await readyIs(relay.url, 503, 1000)).toBe(503);
      const sent = await postText(relay.url, generateKeys().id, 'never stored');
      expect(sent.status).toBe(503);
      expect(sent.json.error).toBe('unavailable');
      expect(await admin.keys(`${prefix}*`)).toEqual([]);
    } finally {
      relay.child.proc.kill('SIGTERM');
      await relay.child.exited;
    }
  }, 30_000);
});
