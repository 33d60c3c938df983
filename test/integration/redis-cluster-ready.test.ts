/**
 * A Cluster command connection is ready at its first attempt, and once
 * whenReady says so, every master takes commands at once (connect.ts): its
 * node connections neither race the Cluster's ready check nor are still
 * opening when the first commands come (a Cluster with no offline queue
 * refuses those).
 */
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectRedis, whenReady } from '../../src/redis/connect.js';
import { redisAndCluster, uniquePrefix } from '../helpers/redis.js';

const logger = createLogger('silent');

describe('Redis Cluster: ready at once, every master with it', () => {
  const shared = redisAndCluster();

  it('a new command connection gets ready without starting over, client after client', async () => {
    // Before: the node connections opened at once and raced the ready check
    // (CLUSTER INFO refused by a node still connecting): a few clients in a
    // hundred started over after a backoff, taking 3-9 s instead of ms.
    for (let i = 0; i < 30; i++) {
      const conn = connectRedis({ cluster: shared.cluster.seeds }, logger);
      const cluster = conn.client as Cluster;
      let restarts = 0;
      cluster.on('reconnecting', () => restarts++);
      try {
        expect(await whenReady(cluster, 10_000)).toBe(true);
        expect({ client: i, restarts }).toEqual({ client: i, restarts: 0 });
      } finally {
        await conn.close();
      }
    }
  }, 60_000);

  it('once ready, commands to every master succeed at once', async () => {
    const conn = connectRedis({ cluster: shared.cluster.seeds }, logger);
    const cluster = conn.client as Cluster;
    try {
      expect(await whenReady(cluster, 10_000)).toBe(true);
      const masters = cluster.nodes('master');
      expect(masters.length).toBe(3);
      expect(masters.map((node) => node.status)).toEqual(['ready', 'ready', 'ready']);
      // Many commands in one turn, over keys of every slot range.
      const prefix = uniquePrefix();
      const keys = Array.from({ length: 60 }, (_, i) => `${prefix}${i}`);
      const replies = await Promise.allSettled(keys.map((key) => cluster.incr(key)));
      expect(replies.filter((r) => r.status === 'rejected')).toEqual([]);
      // Keys went to every master (60 keys spread over the three slot ranges).
      const held = await Promise.all(masters.map((node) => node.keys(`${prefix}*`)));
      expect(held.map((k) => k.length > 0)).toEqual([true, true, true]);
    } finally {
      await conn.close();
    }
  }, 20_000);
});
