/** The OwnerState contract, against the memory engine, a redis-server and a Redis Cluster. */
import { describe, expect, it, vi } from 'vitest';
import { createMemoryOwnerState } from '../../src/owner/memory.js';
import { SWEEP_UNITS } from '../../src/sliced.js';
import { createRedisOwnerState } from '../../src/owner/redis.js';
import type { OwnerState, PreKey } from '../../src/owner/state.js';
import { redisAndCluster, uniquePrefix } from '../helpers/redis.js';

const A = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const B = 'AAAAHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const bundle = {
  identityKey: 'aWRlbnRpdHk',
  signedPreKey: { keyId: 7, publicKey: 'c3Br', signature: 'c2ln' },
};
const preKeys = (from: number, n: number): PreKey[] =>
  Array.from({ length: n }, (_, i) => ({ keyId: from + i, publicKey: `pk${from + i}` }));

const shared = redisAndCluster();

function contract(name: string, make: () => OwnerState, second?: () => OwnerState): void {
  describe(`OwnerState contract: ${name}`, () => {
    it('tokens: saved for an inbox, expire, and are revoked', async () => {
      const s = make();
      await s.tokens.save('h1', A, 60_000);
      await s.tokens.save('h2', B, 30);
      expect(await s.tokens.inboxOf('h1')).toBe(A);
      expect(await s.tokens.inboxOf('h2')).toBe(B);
      expect(await s.tokens.inboxOf('nope')).toBeNull();
      await new Promise((r) => setTimeout(r, 60));
      expect(await s.tokens.inboxOf('h2')).toBeNull();
      await s.tokens.revoke('h1');
      expect(await s.tokens.inboxOf('h1')).toBeNull();
      await s.close();
    });

    it('once: exactly one of many concurrent marks is first; scoped per inbox; expires', async () => {
      const s = make();
      const results = await Promise.all(Array.from({ length: 20 }, () => s.once.first(A, 'k', 50)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await s.once.first(B, 'k', 50)).toBe(true);
      await new Promise((r) => setTimeout(r, 80));
      expect(await s.once.first(A, 'k', 50)).toBe(true);
      await s.close();
    });

    it('prekeys: put replaces, take pops one at a time, then null prekeys', async () => {
      const s = make();
      expect(await s.prekeys.take(A)).toBeNull();
      await s.prekeys.put(A, bundle, preKeys(1, 5));
      await s.prekeys.put(A, bundle, preKeys(100, 2));
      expect(await s.prekeys.count(A)).toBe(2);
      expect(await s.prekeys.take(A)).toEqual({ ...bundle, preKey: preKeys(100, 1)[0] });
      expect((await s.prekeys.take(A))?.preKey?.keyId).toBe(101);
      expect(await s.prekeys.take(A)).toEqual({ ...bundle, preKey: null });
      expect(await s.prekeys.count(A)).toBe(0);
      expect(await s.prekeys.take(B)).toBeNull();
      await s.close();
    });

    it('prekeys: add appends up to the bound, refuses past it (adding none), needs a bundle', async () => {
      const s = make();
      await expect(s.prekeys.add(A, preKeys(1, 1), 10)).rejects.toMatchObject({
        code: 'not_found',
      });
      await s.prekeys.put(A, bundle, preKeys(1, 4));
      expect(await s.prekeys.add(A, preKeys(5, 6), 10)).toBe(10);
      await expect(s.prekeys.add(A, preKeys(11, 1), 10)).rejects.toMatchObject({
        code: 'too_many_prekeys',
      });
      expect(await s.prekeys.count(A)).toBe(10);
      await s.close();
    });

    it('prekeys: concurrent takes never hand out one prekey twice', async () => {
      const s = make();
      const other = second ? second() : s;
      await s.prekeys.put(A, bundle, preKeys(1, 50));
      const taken = await Promise.all(
        Array.from({ length: 80 }, (_, i) => (i % 2 ? s : other).prekeys.take(A)),
      );
      const ids = taken.map((b) => b?.preKey?.keyId).filter((id) => id !== undefined);
      expect(ids).toHaveLength(50);
      expect(new Set(ids).size).toBe(50);
      expect(taken.filter((b) => b?.preKey === null)).toHaveLength(30);
      await s.close();
    });

    it('blobs: per inbox and name, replaced on put', async () => {
      const s = make();
      expect(await s.blobs.get(A, 'shareable')).toBeNull();
      await s.blobs.put(A, 'shareable', '{"name":"a"}');
      await s.blobs.put(A, 'shareable', '{"name":"b"}');
      await s.blobs.put(A, 'data', '[1]');
      expect(await s.blobs.get(A, 'shareable')).toBe('{"name":"b"}');
      expect(await s.blobs.get(A, 'data')).toBe('[1]');
      expect(await s.blobs.get(B, 'shareable')).toBeNull();
      await s.close();
    });
  });
}

contract('memory', () => createMemoryOwnerState({ maxBytes: 10_000_000 }));
{
  let prefix = '';
  contract(
    'redis (two clients, one prefix)',
    () => createRedisOwnerState(shared.redis, (prefix = uniquePrefix())),
    () => createRedisOwnerState(shared.duplicate(), prefix),
  );
}
contract('redis cluster', () => createRedisOwnerState(shared.clusterClient, uniquePrefix()));

describe('memory owner state bound', () => {
  it('refuses writes past maxBytes with 503 and gives the bytes back on removal', async () => {
    const s = createMemoryOwnerState({ maxBytes: 3000 });
    await s.prekeys.put(A, bundle, []);
    await expect(s.prekeys.add(A, preKeys(1, 50), 1000)).rejects.toMatchObject({
      code: 'unavailable',
    });
    expect(await s.prekeys.count(A)).toBe(0);
    await s.blobs.put(A, 'data', 'x'.repeat(500));
    await expect(s.blobs.put(B, 'data', 'x'.repeat(2000))).rejects.toMatchObject({
      code: 'unavailable',
    });
    const before = s.budget.bytes;
    await s.prekeys.put(A, bundle, preKeys(1, 1));
    await s.prekeys.take(A);
    expect(s.budget.bytes).toBe(before);
    await s.close();
  });

  it('sweeps expired tokens and marks a slice per turn, giving their bytes back', async () => {
    vi.useFakeTimers({
      toFake: ['setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'],
    });
    const now = { t: 1_000 };
    const s = createMemoryOwnerState({ maxBytes: 10_000_000, sweepMs: 10_000, now: () => now.t });
    try {
      const n = SWEEP_UNITS; // tokens and as many marks: two slices and a bit
      for (let i = 0; i < n; i++) await s.tokens.save(`t${i}`.padEnd(43, 'x'), A, 100);
      for (let i = 0; i < n + 10; i++) expect(await s.once.first(A, `r:${i}`, 100)).toBe(true);
      await s.tokens.save('kept'.padEnd(43, 'x'), B, 60_000);
      await s.once.first(B, 'kept', 60_000);
      const full = s.budget.bytes;
      now.t = 2_000;
      vi.advanceTimersByTime(10_000);
      const first = s.budget.bytes;
      expect(first).toBeLessThan(full);
      expect(await s.once.first(A, 'r:0', 100)).toBe(true); // a mark it has not reached yet
      vi.advanceTimersToNextTimer();
      expect(s.budget.bytes).toBeLessThan(first);
      for (let i = 0; i < 5; i++) vi.advanceTimersToNextTimer();
      // What is left: the two live entries and the mark renewed above.
      expect(await s.tokens.inboxOf('kept'.padEnd(43, 'x'))).toBe(B);
      expect(await s.once.first(B, 'kept', 60_000)).toBe(false);
      const left = s.budget.bytes;
      await s.tokens.revoke('kept'.padEnd(43, 'x'));
      await s.once.forget(B, 'kept');
      await s.once.forget(A, 'r:0');
      expect(s.budget.bytes).toBe(0);
      expect(left).toBeGreaterThan(0);
    } finally {
      await s.close();
      vi.useRealTimers();
    }
  });
});
