/** NPCHAT_REDIS_URL=unix:///path: the scale-out engine on a Redis of the same host, over its Unix socket. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';

describe('Redis over a Unix socket', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedis({ unixSocket: true });
    admin = new Redis(server.url);
  }, 30_000);
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  it('stores, delivers and selects the database of the query, all through the socket', async () => {
    const prefix = uniquePrefix();
    let relay: TestRelay | undefined;
    try {
      relay = await startRelay({
        redisUrl: `unix://${server.socketPath}?db=3`,
        redisPrefix: prefix,
      });
      const keys = generateKeys();
      const sent = await postText(relay.url, keys.id, 'over the socket');
      expect(sent.status).toBe(200);
      // Stored in database 3, which only the query named.
      await admin.select(3);
      expect((await admin.keys(`${prefix}*`)).length).toBeGreaterThan(0);
      await admin.select(0);
      expect(await admin.keys(`${prefix}*`)).toEqual([]);
      const s = await authedSocket(relay.wsUrl, keys);
      expect((await s.next()).text).toBe('over the socket');
      s.close();
      // The relay's connections are Unix-socket clients (flag U), not TCP ones.
      const clients = (await admin.client('LIST')) as string;
      const unix = clients.split('\n').filter((line) => / flags=\S*U/.test(line));
      expect(unix.length).toBeGreaterThanOrEqual(2); // commands and subscriber
    } finally {
      await relay?.close();
    }
  });
});
