/** The Store contract against a real redis-server and a real 3-master Redis Cluster. */
import { Redis, type Cluster } from 'ioredis';
import { inboxKey, presenceKey } from '../../src/redis/keys.js';
import type { InboxQuota } from '../../src/store/store.js';
import { describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { redisAndCluster, uniquePrefix } from '../helpers/redis.js';
import { msg, storeContract, type StoreWorld } from './store-contract.js';

const INBOX = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const shared = redisAndCluster();

/** Each store's prefix and client, so a test can write the policy and presence it reads. */
const where = new WeakMap<object, { client: Redis | Cluster; prefix: string }>();
function redisStore(client: Redis | Cluster, quota?: InboxQuota): RedisStore {
  const prefix = uniquePrefix();
  const store = new RedisStore(client, prefix, quota);
  where.set(store, { client, prefix });
  return store;
}
const world: StoreWorld = {
  setPolicy: async (store, inbox, policy) => {
    const { client, prefix } = where.get(store)!;
    const key = inboxKey(prefix, inbox, 'policy');
    await (policy === null ? client.del(key) : client.set(key, policy));
  },
  setPresence: async (store, inbox, node, untilMs) => {
    const { client, prefix } = where.get(store)!;
    await client.hset(presenceKey(prefix, inbox), node, untilMs);
  },
};

storeContract('redis', async (quota) => redisStore(shared.redis, quota), world);
storeContract('redis cluster', async (quota) => redisStore(shared.clusterClient, quota), world);

describe('RedisStore specifics', () => {
  it('keeps every key of an inbox in one hash slot, with an expiry', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix);
    const m = await store.append(INBOX, msg('x'));
    await store.lease(INBOX, 1, 10_000);
    const keys = await shared.redis.keys(`${prefix}*`);
    expect(keys.sort()).toEqual(
      ['b', 'l', 'm', 'q', 'seq', 'x'].map((n) => `${prefix}{${INBOX}}:${n}`).sort(),
    );
    for (const key of keys) expect(await shared.redis.pttl(key)).toBeGreaterThan(0);
    expect(await store.remove(INBOX, [m.id])).toBe(1);
  });

  it('keeps every queue key alive past the latest message, extending only when needed', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix);
    const names = ['q', 'm', 'x', 'b'].map((n) => `${prefix}{${INBOX}}:${n}`);
    const ttls = async () => Promise.all(names.map((k) => shared.redis.pttl(k)));
    // PEXPIRE calls so far on this server (the tests of a file run one at a time).
    const expirySets = async () =>
      Number(/cmdstat_pexpire:calls=(\d+)/.exec(await shared.redis.info('commandstats'))?.[1] ?? 0);
    await store.append(INBOX, msg('short', 60_000));
    for (const t of await ttls()) expect(t).toBeGreaterThan(60_000 + 60_000 - 5_000);
    for (const t of await ttls()) expect(t).toBeLessThanOrEqual(60_000 + 120_000);
    // A longer-lived message extends all of them...
    await store.append(INBOX, msg('long', 3_600_000));
    for (const t of await ttls()) expect(t).toBeGreaterThan(3_600_000 + 60_000 - 5_000);
    // ...and shorter ones after it neither shorten them nor set them again.
    const before = await expirySets();
    for (let i = 0; i < 5; i++) await store.append(INBOX, msg(`short ${i}`, 60_000));
    expect(await expirySets()).toBe(before);
    for (const t of await ttls()) expect(t).toBeGreaterThan(3_600_000 + 60_000 - 5_000);
  });

  it('gives a byte count made while the queue lives an expiry too', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix);
    const b = `${prefix}{${INBOX}}:b`;
    // An empty message charges nothing: once the other one goes, the count goes.
    await store.append(INBOX, msg(''));
    const charged = await store.append(INBOX, msg('abc'));
    expect(await store.remove(INBOX, [charged.id])).toBe(1);
    expect(await shared.redis.exists(b)).toBe(0);
    expect(await shared.redis.zcard(`${prefix}{${INBOX}}:q`)).toBe(1);
    // The next message makes the count again, with the queue's expiry still long.
    await store.append(INBOX, msg('de'));
    expect(await shared.redis.get(b)).toBe('2');
    expect(await shared.redis.pttl(b)).toBeGreaterThan(60_000);
  });

  it('leaves no byte count behind when the quota refuses a message', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix, { maxMessages: 10, maxBytes: 4 });
    await expect(store.append(INBOX, msg('too long'))).rejects.toMatchObject({
      code: 'inbox_full',
    });
    expect(await shared.redis.keys(`${prefix}*`)).toEqual([]);
    await store.append(INBOX, msg('abc'));
    await expect(store.append(INBOX, msg('de'))).rejects.toMatchObject({ code: 'inbox_full' });
    expect(await shared.redis.get(`${prefix}{${INBOX}}:b`)).toBe('3');
  });

  it('trims expired messages on append, so an inbox never grows with dead messages', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix);
    for (let i = 0; i < 50; i++) await store.append(INBOX, msg(`old${i}`, 1, Date.now() - 10));
    await store.append(INBOX, msg('new'));
    expect(await shared.redis.hlen(`${prefix}{${INBOX}}:m`)).toBe(1);
    expect(await shared.redis.zcard(`${prefix}{${INBOX}}:q`)).toBe(1);
  });

  it('reads the live nodes of the presence hash in the same step as reserve and append', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix);
    expect((await store.reserve(INBOX)).present).toEqual([]);
    const now = Date.now();
    await shared.redis.hset(`${prefix}{${INBOX}}:p`, 'live', now + 60_000, 'gone', now - 1);
    expect((await store.reserve(INBOX)).present).toEqual(['live']);
    expect((await store.append(INBOX, msg('x'))).present).toEqual(['live']);
    // A repeated idempotency key answers from its first answer: no presence then.
    await store.append(INBOX, msg('y'), 'key');
    expect((await store.reserve(INBOX, 'key')).present).toBeUndefined();
  });

  it('charges a signed message its longer header and gives every byte back on removal', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(shared.redis, prefix);
    const from = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
    const a = await store.append(INBOX, { ...msg('signed'), from });
    const b = await store.append(INBOX, msg('plain'));
    expect(Number(await shared.redis.get(`${prefix}{${INBOX}}:b`))).toBe(6 + 47 + 5);
    expect(await store.remove(INBOX, [a.id, b.id])).toBe(2);
    expect(await shared.redis.exists(`${prefix}{${INBOX}}:b`)).toBe(0);
  });

  it('judges expiry and leases by its own clock (no wall-clock waits)', async () => {
    let now = Date.now();
    const store = new RedisStore(shared.redis, uniquePrefix(), undefined, undefined, () => now);
    await store.append(INBOX, msg('short', 60_000, now));
    await store.append(INBOX, msg('long', 3_600_000, now));
    expect((await store.lease(INBOX, 10, 30_000)).map((m) => m.ttlMs)).toEqual([60_000, 3_600_000]);
    now += 45_000; // leases (30 s) are over, the short message still lives
    expect(await store.lease(INBOX, 10, 30_000)).toHaveLength(2);
    now += 60_000; // the short one has expired
    const left = await store.lease(INBOX, 10, 30_000);
    expect(left.map((m) => Buffer.from(m.body).toString())).toEqual(['long']);
  });

  it('never reuses an id after the queue emptied', async () => {
    const store = new RedisStore(shared.redis, uniquePrefix());
    const a = await store.append(INBOX, msg('a'));
    await store.remove(INBOX, [a.id]);
    const b = await store.append(INBOX, msg('b'));
    expect(BigInt(b.id)).toBeGreaterThan(BigInt(a.id));
  });

  it('answers unavailable (503) when Redis cannot be reached, without hanging', async () => {
    const down = new Redis({
      port: 1,
      enableOfflineQueue: false,
      retryStrategy: () => 5000,
      lazyConnect: true,
    });
    down.on('error', () => {});
    const store = new RedisStore(down, uniquePrefix());
    const started = Date.now();
    await expect(store.append(INBOX, msg('x'))).rejects.toMatchObject({
      code: 'unavailable',
      status: 503,
    });
    await expect(store.lease(INBOX, 1, 1)).rejects.toMatchObject({ code: 'unavailable' });
    expect(Date.now() - started).toBeLessThan(1000);
    down.disconnect();
  });
});
