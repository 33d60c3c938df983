/**
 * The command connection writes every command of one event-loop turn in one
 * system call (connect.ts coalesceWrites), on one Redis and on each node of
 * a Cluster, again after a reconnect, and never holds a command past its turn.
 */
import type { Socket } from 'node:net';
import { Redis, type Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectRedis, whenReady, type RedisConnections } from '../../src/redis/connect.js';
import { redisAndCluster, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/socket.js';

const logger = createLogger('silent');

/** Counts the socket's low-level writes (one per system call Node makes for them). */
function countWrites(stream: Socket): { calls: number; chunks: number } {
  const seen = { calls: 0, chunks: 0 };
  const s = stream as unknown as {
    _write: (...a: unknown[]) => unknown;
    _writev: (chunks: unknown[], ...a: unknown[]) => unknown;
  };
  const write = s._write;
  const writev = s._writev;
  s._write = function (this: unknown, ...a: unknown[]) {
    seen.calls++;
    seen.chunks++;
    return write.apply(this, a);
  };
  s._writev = function (this: unknown, chunks: unknown[], ...a: unknown[]) {
    seen.calls++;
    seen.chunks += chunks.length;
    return writev.call(this, chunks, ...a);
  };
  return seen;
}

/** Runs `fn` with connections to `target`, ready first, closed after (pass or fail). */
async function withConnections(
  target: Parameters<typeof connectRedis>[0],
  fn: (conn: RedisConnections) => Promise<void>,
): Promise<void> {
  const conn = connectRedis(target, logger);
  try {
    expect(await whenReady(conn.client, 10_000)).toBe(true);
    await fn(conn);
  } finally {
    await conn.close();
  }
}

describe('Redis command writes, one system call per turn', () => {
  const shared = redisAndCluster();

  it('one Redis: twenty commands of one turn leave in one write, replies in order', async () => {
    await withConnections({ url: shared.server.url }, async (conn) => {
      const client = conn.client as Redis;
      const key = `${uniquePrefix()}n`;
      const seen = countWrites(client.stream as Socket);
      const replies = await Promise.all(Array.from({ length: 20 }, () => client.incr(key)));
      expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(seen).toEqual({ calls: 1, chunks: 20 });
      // The next turn's commands make a write of their own.
      await Promise.all([client.incr(key), client.incr(key)]);
      expect(seen).toEqual({ calls: 2, chunks: 22 });
    });
  });

  it('one Redis: the socket of a reconnect coalesces too', async () => {
    await withConnections({ url: shared.server.url }, async (conn) => {
      const client = conn.client as Redis;
      const first = client.stream;
      const id = await client.client('ID');
      const admin = shared.duplicate();
      await admin.client('KILL', 'ID', String(id));
      // ioredis reconnects by itself (retryStrategy): wait for the new socket to be ready.
      await waitFor(() => client.status === 'ready' && client.stream !== first, 5000);
      expect(client.stream).not.toBe(first);
      expect(client.status).toBe('ready');
      const key = `${uniquePrefix()}n`;
      const seen = countWrites(client.stream as Socket);
      const replies = await Promise.all(Array.from({ length: 10 }, () => client.incr(key)));
      expect(replies).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(seen).toEqual({ calls: 1, chunks: 10 });
    });
  });

  it('a command written in any phase of a turn is answered without waiting for more', async () => {
    await withConnections({ url: shared.server.url }, async (conn) => {
      const client = conn.client as Redis;
      const key = `${uniquePrefix()}n`;
      // From a timer, an immediate (after this turn's uncork may have run),
      // a promise job and an I/O callback (another command's reply).
      const fromTimer = new Promise((r) => setTimeout(() => r(client.incr(key)), 1));
      const fromImmediate = new Promise((r) => setImmediate(() => r(client.incr(key))));
      const fromJob = Promise.resolve().then(() => client.incr(key));
      const fromReply = client.ping().then(() => client.incr(key));
      const started = Date.now();
      const replies = (await Promise.all([
        fromTimer,
        fromImmediate,
        fromJob,
        fromReply,
      ])) as number[];
      expect([...replies].sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
      // Well inside the command timeout (800 ms) that a held-back command would hit.
      expect(Date.now() - started).toBeLessThan(500);
    });
  });

  it('Cluster: each node connection coalesces the commands of one turn', async () => {
    await withConnections({ cluster: shared.cluster.seeds }, async (conn) => {
      const cluster = conn.client as Cluster;
      // One hash tag: one slot, one node.
      const key = `{${uniquePrefix()}}n`;
      await cluster.incr(key); // routes, and connects the node that owns the slot
      const masters = cluster.nodes('master');
      expect(masters.length).toBe(3);
      const counts = masters.map((node) => countWrites(node.stream as Socket));
      const replies = await Promise.all(Array.from({ length: 12 }, () => cluster.incr(key)));
      expect(replies).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
      const calls = counts.reduce((n, c) => n + c.calls, 0);
      const chunks = counts.reduce((n, c) => n + c.chunks, 0);
      expect({ calls, chunks }).toEqual({ calls: 1, chunks: 12 });
    });
  }, 20_000);
});
