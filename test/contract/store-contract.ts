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
        const stored = await store.append(INBOX, msg(`m${i}`));
        expect(Buffer.from(stored.body).toString()).toBe(`m${i}`);
        expect(stored.expiresAt).toBe(stored.t + stored.ttlMs);
        ids.push(stored.id);
      }
      for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
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

    it('answers ping', async () => {
      const store = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
