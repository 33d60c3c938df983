/**
 * The Store contract (src/store/store.ts), as a suite any engine runs. Each
 * call of `make` must return a fresh store (its own prefix on a shared server).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compareIds, type NewMessage, type Store } from '../../src/store/store.js';

const INBOX = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const OTHER = 'N7O2QrddEOeYiyHq0dRP6Uvf30quD655PlalxdTgkYQ';

export function msg(text: string, ttlMs = 60_000, t = Date.now()): NewMessage {
  return { body: Buffer.from(text), binary: false, ttlMs, t };
}

const texts = (ms: { body: Uint8Array }[]) => ms.map((m) => Buffer.from(m.body).toString());

export function storeContract(name: string, make: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    const fresh = async () => {
      const s = await make();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('assigns increasing ids and returns what it stored', async () => {
      const store = await fresh();
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const m = msg(`m${i}`);
        const stored = await store.append(INBOX, m);
        expect(stored).toMatchObject({ t: m.t, expiresAt: m.t + m.ttlMs, duplicate: false });
        ids.push(stored.id);
      }
      for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
      const leased = await store.lease(INBOX, 100, 10_000);
      expect(leased.map((m) => m.id)).toEqual(ids);
      expect(texts(leased)).toEqual(ids.map((_, i) => `m${i}`));
    });

    it('leases oldest first, up to max, per inbox', async () => {
      const store = await fresh();
      for (let i = 0; i < 5; i++) await store.append(INBOX, msg(`a${i}`));
      await store.append(OTHER, msg('other'));
      expect(texts(await store.lease(INBOX, 3, 10_000))).toEqual(['a0', 'a1', 'a2']);
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['a3', 'a4']);
      expect(texts(await store.lease(OTHER, 10, 10_000))).toEqual(['other']);
    });

    it('does not lease a leased message twice; release makes it available again', async () => {
      const store = await fresh();
      await store.append(INBOX, msg('x'));
      const [leased] = await store.lease(INBOX, 10, 10_000);
      expect(await store.lease(INBOX, 10, 10_000)).toEqual([]);
      await store.release(INBOX, [leased!.id]);
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['x']);
    });

    it('makes messages available again when a lease runs out', async () => {
      const store = await fresh();
      await store.append(INBOX, msg('x'));
      await store.lease(INBOX, 10, 50);
      expect(await store.lease(INBOX, 10, 50)).toEqual([]);
      await new Promise((r) => setTimeout(r, 80));
      expect(texts(await store.lease(INBOX, 10, 50))).toEqual(['x']);
    });

    it('removes by id, ignores unknown ids, and counts', async () => {
      const store = await fresh();
      const a = await store.append(INBOX, msg('a'));
      await store.append(INBOX, msg('b'));
      expect(await store.remove(INBOX, [a.id, 'nope'])).toBe(1);
      expect(await store.remove(INBOX, [a.id])).toBe(0);
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['b']);
    });

    it('never returns an expired message', async () => {
      const store = await fresh();
      await store.append(INBOX, msg('old', 1, Date.now() - 10));
      await store.append(INBOX, msg('short', 40));
      await store.append(INBOX, msg('fresh'));
      expect(texts(await store.lease(INBOX, 10, 1))).toEqual(['short', 'fresh']);
      await new Promise((r) => setTimeout(r, 60));
      expect(texts(await store.lease(INBOX, 10, 1))).toEqual(['fresh']);
    });

    it('keeps binary bodies and the binary flag byte for byte', async () => {
      const store = await fresh();
      const body = Buffer.from([0, 255, 1, 254, 10, 13]);
      await store.append(INBOX, { body, binary: true, ttlMs: 60_000, t: Date.now() });
      const [m] = await store.lease(INBOX, 1, 1000);
      expect(m!.binary).toBe(true);
      expect(Buffer.from(m!.body)).toEqual(body);
    });

    it('idempotency: a second append with the same key stores nothing and returns the first answer', async () => {
      const store = await fresh();
      const first = await store.append(INBOX, msg('once'), 'key-1');
      const again = await store.append(INBOX, msg('twice'), 'key-1');
      expect(again).toMatchObject({ id: first.id, t: first.t, duplicate: true });
      expect(await store.recall(INBOX, 'key-1')).toEqual({ id: first.id, t: first.t });
      // Same key on another inbox, or another key: independent.
      expect((await store.append(OTHER, msg('other inbox'), 'key-1')).duplicate).toBe(false);
      expect((await store.append(INBOX, msg('other key'), 'key-2')).duplicate).toBe(false);
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['once', 'other key']);
    });

    it('idempotency: concurrent appends with one key store exactly one message', async () => {
      const store = await fresh();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.append(INBOX, msg(`c${i}`), 'same')),
      );
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(await store.lease(INBOX, 10, 10_000)).toHaveLength(1);
    });

    it('idempotency: the key expires with its message', async () => {
      const store = await fresh();
      await store.append(INBOX, msg('short', 40), 'k');
      await new Promise((r) => setTimeout(r, 60));
      expect(await store.recall(INBOX, 'k')).toBeNull();
      expect((await store.append(INBOX, msg('new'), 'k')).duplicate).toBe(false);
    });

    it('idempotency: remember records a live delivery for recall, for its TTL', async () => {
      const store = await fresh();
      await store.remember(INBOX, 'live', { id: '42', t: 7 }, 40);
      expect(await store.recall(INBOX, 'live')).toEqual({ id: '42', t: 7 });
      expect(await store.recall(OTHER, 'live')).toBeNull();
      await new Promise((r) => setTimeout(r, 60));
      expect(await store.recall(INBOX, 'live')).toBeNull();
    });

    it('answers ping', async () => {
      const store = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
