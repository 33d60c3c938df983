/**
 * A full Redis (maxmemory reached, noeviction): new messages are refused
 * with 503, but owners keep receiving, acknowledging and deleting (which is
 * what frees the memory), in legacy and in ack mode, and posting works again
 * once they have read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { rawCommand, startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';

let server: RedisServer;
let t: TestRelay;
beforeAll(async () => {
  server = await startRedis();
  t = await startRelay({ redisUrl: server.url, redisPrefix: uniquePrefix() });
});
afterAll(async () => {
  await t.close();
  await server.stop();
});

describe('Redis at maxmemory with noeviction', () => {
  it('refuses new messages (503) and keeps delivering, acknowledging and deleting', async () => {
    const legacy = generateKeys();
    const acking = generateKeys();
    const body = (i: number) => `${String(i).padStart(5, '0')}:`.padEnd(32 * 1024, 'z');
    // Fill Redis to its limit (a little above what it holds now).
    const info = await rawCommand(server.port, 'INFO memory');
    const used = Number(/used_memory:(\d+)/.exec(info)![1]);
    expect(await rawCommand(server.port, `CONFIG SET maxmemory ${used + 3 * 1024 * 1024}`)).toBe(
      '+OK\r\n',
    );
    expect(await rawCommand(server.port, 'CONFIG SET maxmemory-policy noeviction')).toBe('+OK\r\n');
    const accepted = { legacy: [] as string[], acking: [] as string[] };
    let refused: Awaited<ReturnType<typeof postText>> | undefined;
    for (let i = 0; i < 400 && !refused; i++) {
      const owner = i % 2 ? acking : legacy;
      const r = await postText(t.url, owner.id, body(i));
      if (r.status === 200) (i % 2 ? accepted.acking : accepted.legacy).push(body(i));
      else refused = r;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.json.error).toBe('unavailable');
    expect(refused?.headers.get('retry-after')).toBe('10');
    expect(accepted.legacy.length).toBeGreaterThan(10);
    // Make sure Redis stays over its limit whatever the size of the next
    // command (client buffers count toward used_memory): half what it holds.
    const full = Number(/used_memory:(\d+)/.exec(await rawCommand(server.port, 'INFO memory'))![1]);
    await rawCommand(server.port, `CONFIG SET maxmemory ${Math.floor(full / 2)}`);
    expect(await rawCommand(server.port, 'SET probe 1')).toMatch(/^-OOM/);
    // Still full: another message is refused.
    expect((await postText(t.url, generateKeys().id, body(0))).status).toBe(503);

    // Legacy owner: everything arrives and is deleted from the store.
    const s = await authedSocket(t.wsUrl, legacy);
    for (const b of accepted.legacy) expect((await s.next()).text).toBe(b);
    // Ack-mode owner: everything arrives, and its acks are applied.
    const a = await authedSocket(t.wsUrl, acking, { ack: true });
    for (const b of accepted.acking) {
      const env = (await a.nextJson()) as { id: string; data: string };
      expect(env.data).toBe(b);
      a.send({ ack: [env.id] });
    }
    a.close();
    await a.closed;

    // Read and acknowledged: memory is free again, and posting works.
    await rawCommand(server.port, `CONFIG SET maxmemory ${used + 3 * 1024 * 1024}`);
    const again = await postText(t.url, legacy.id, 'after the owners read');
    expect(again.status).toBe(200);
    expect((await s.next()).text).toBe('after the owners read');
    s.close();
    // Nothing acknowledged comes back.
    const a2 = await authedSocket(t.wsUrl, acking, { ack: true });
    await postText(t.url, acking.id, 'probe');
    expect(((await a2.nextJson()) as { data: string }).data).toBe('probe');
    a2.close();
  }, 30_000);
});
