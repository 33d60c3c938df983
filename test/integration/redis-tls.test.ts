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
import { authedSocket, postText, waitFor } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

let cert: string;
let key: string;

/** GET /ready's status. */
async function ready(url: string): Promise<number> {
  return (await fetch(`${url}/ready`)).status;
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
      await waitFor(async () => (await ready(relay.url)) === 200, 10_000);
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
      await waitFor(async () => (await ready(relay.url)) === 503, 1000);
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
