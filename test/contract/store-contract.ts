/**
 * The Store contract (src/store/store.ts), as a suite any engine runs. Each
 * call of `make` must return a fresh store (its own prefix on a shared server).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compareIds,
  LEASE_SCAN,
  type InboxQuota,
  type NewMessage,
  type Store,
} from '../../src/store/store.js';
import { replayable } from '../helpers/fc.js';

const INBOX = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const OTHER = 'N7O2QrddEOeYiyHq0dRP6Uvf30quD655PlalxdTgkYQ';

export function msg(text: string, ttlMs = 60_000, t = Date.now()): NewMessage {
  return { body: Buffer.from(text), binary: false, ttlMs, t };
}

const texts = (ms: { body: Uint8Array }[]) => ms.map((m) => Buffer.from(m.body).toString());

/** How a test sets what reserveOrStore() looks at besides the queue. */
export interface StoreWorld {
  /** Sets (or, with null, removes) the inbox policy the store reads. */
  setPolicy(store: Store, inbox: string, policy: string | null): Promise<void>;
  /** Marks another relay node as having a socket of the inbox until `untilMs` (stores that see other relays). */
  setPresence?(store: Store, inbox: string, node: string, untilMs: number): Promise<void>;
}

export function storeContract(
  name: string,
  make: (quota?: InboxQuota) => Promise<Store>,
  world: StoreWorld,
): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    const fresh = async (quota?: InboxQuota) => {
      const s = await make(quota);
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
      expect(await store.reserve(INBOX, 'key-1')).toEqual({ prior: { id: first.id, t: first.t } });
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
      expect((await store.reserve(INBOX, 'k')).prior).toBeUndefined();
    });

    it('ids: reserve and append share one increasing sequence per inbox', async () => {
      const store = await fresh();
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await store.reserve(INBOX);
        ids.push(r.id!);
        ids.push((await store.append(INBOX, msg(`s${i}`))).id);
      }
      expect(new Set(ids).size).toBe(ids.length);
      for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
    });

    it('ids: a message appended with a reserved id keeps it and its place in the order', async () => {
      const store = await fresh();
      const early = (await store.reserve(INBOX)).id!;
      const later = await store.append(INBOX, msg('later'));
      const stored = await store.append(INBOX, { ...msg('early'), id: early });
      expect(stored.id).toBe(early);
      const leased = await store.lease(INBOX, 10, 10_000);
      expect(leased.map((m) => m.id)).toEqual([early, later.id]);
      expect(texts(leased)).toEqual(['early', 'later']);
    });

    it('order: reserved ids stored late, in any order and mixed with removals, lease in id order', async () => {
      type Op =
        | { op: 'reserve' }
        | { op: 'append' }
        | { op: 'late'; pick: number }
        | { op: 'remove'; pick: number }
        | { op: 'lease'; max: number };
      const ops = fc.array(
        fc.oneof(
          fc.constant<Op>({ op: 'reserve' }),
          fc.constant<Op>({ op: 'append' }),
          fc.nat().map((pick): Op => ({ op: 'late', pick })),
          fc.nat().map((pick): Op => ({ op: 'remove', pick })),
          fc.integer({ min: 1, max: 8 }).map((max): Op => ({ op: 'lease', max })),
        ),
        { minLength: 1, maxLength: 40 },
      );
      await fc.assert(
        fc.asyncProperty(ops, async (run) => {
          const store = await fresh();
          const reserved: string[] = [];
          const stored: string[] = []; // the model: ids held, any order
          const sorted = () => [...stored].sort(compareIds);
          /** Leases up to `max` and gives them back at once (the next lease sees them again). */
          const leaseIds = async (max: number) => {
            const ids = (await store.lease(INBOX, max, 60_000)).map((m) => m.id);
            await store.release(INBOX, ids);
            return ids;
          };
          for (const step of run) {
            if (step.op === 'reserve') {
              reserved.push((await store.reserve(INBOX)).id!);
            } else if (step.op === 'append') {
              stored.push((await store.append(INBOX, msg('m'))).id);
            } else if (step.op === 'late' && reserved.length > 0) {
              const [id] = reserved.splice(step.pick % reserved.length, 1);
              expect((await store.append(INBOX, { ...msg(id!), id })).id).toBe(id);
              stored.push(id!);
            } else if (step.op === 'remove' && stored.length > 0) {
              const [id] = stored.splice(step.pick % stored.length, 1);
              expect(await store.remove(INBOX, [id!])).toBe(1);
            } else if (step.op === 'lease') {
              expect(await leaseIds(step.max)).toEqual(sorted().slice(0, step.max));
            }
          }
          expect(await leaseIds(100)).toEqual(sorted());
          await store.close();
          open.splice(open.indexOf(store), 1);
        }),
        replayable(`store order (${name})`, 40),
      );
    });

    it(`lease looks at no more than LEASE_SCAN (${LEASE_SCAN}) messages from the head`, async () => {
      const store = await fresh();
      const ids: string[] = [];
      for (let i = 0; i < LEASE_SCAN + 3; i++)
        ids.push((await store.append(INBOX, msg(`m${i}`))).id);
      expect(await store.lease(INBOX, LEASE_SCAN, 60_000)).toHaveLength(LEASE_SCAN);
      // Every message within reach is leased to someone: the last three wait.
      expect(await store.lease(INBOX, 10, 60_000)).toEqual([]);
      // Released ones at the head come back, oldest first; the last three still wait.
      await store.release(INBOX, [ids[1]!, ids[0]!]);
      expect((await store.lease(INBOX, 10, 60_000)).map((m) => m.id)).toEqual([ids[0], ids[1]]);
      // Acknowledged ones leave the queue: the last three come within reach.
      expect(await store.remove(INBOX, ids.slice(0, 3))).toBe(3);
      expect((await store.lease(INBOX, 10, 60_000)).map((m) => m.id)).toEqual(ids.slice(-3));
    }, 30_000);

    it('idempotency: reserve marks the key pending, then commit answers every retry', async () => {
      const store = await fresh();
      const r = await store.reserve(INBOX, 'live');
      expect(r.id).toMatch(/^\d+$/);
      // While the first request is handled, a retry is told to come back.
      await expect(store.reserve(INBOX, 'live')).rejects.toMatchObject({
        code: 'unavailable',
        headers: { 'Retry-After': '1' },
      });
      await store.commit(INBOX, 'live', { id: r.id!, t: 7 }, 40);
      expect(await store.reserve(INBOX, 'live')).toEqual({ prior: { id: r.id, t: 7 } });
      expect((await store.reserve(OTHER, 'live')).prior).toBeUndefined();
      await new Promise((r) => setTimeout(r, 60));
      expect((await store.reserve(INBOX, 'live')).prior).toBeUndefined();
    });

    it('idempotency: forget releases a pending key (a failed request may be retried)', async () => {
      const store = await fresh();
      const r = await store.reserve(INBOX, 'failed');
      await store.forget(INBOX, 'failed', 'not-this-one');
      await expect(store.reserve(INBOX, 'failed')).rejects.toMatchObject({ code: 'unavailable' });
      await store.forget(INBOX, 'failed', r.id!);
      const again = await store.reserve(INBOX, 'failed');
      expect(again.id).toBeDefined();
      // append with the reservation's id completes it.
      const stored = await store.append(INBOX, { ...msg('x'), id: again.id }, 'failed');
      expect(stored).toMatchObject({ id: again.id, duplicate: false });
      expect(await store.reserve(INBOX, 'failed')).toEqual({
        prior: { id: again.id, t: stored.t },
      });
    });

    it('quota: refuses the message past maxMessages with inbox_full, atomically', async () => {
      const store = await fresh({ maxMessages: 3, maxBytes: 1_000_000 });
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.append(INBOX, msg(`q${i}`))),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      for (const r of results.filter((r) => r.status === 'rejected')) {
        expect((r as PromiseRejectedResult).reason).toMatchObject({
          code: 'inbox_full',
          status: 507,
        });
      }
      // Another inbox has its own quota; reading frees room.
      await store.append(OTHER, msg('other'));
      const leased = await store.lease(INBOX, 10, 10_000);
      expect(leased).toHaveLength(3);
      await store.remove(INBOX, [leased[0]!.id]);
      await store.append(INBOX, msg('room again'));
      await expect(store.append(INBOX, msg('full again'))).rejects.toMatchObject({
        code: 'inbox_full',
      });
    });

    it('quota: refuses a message that would take the inbox over maxBytes', async () => {
      const store = await fresh({ maxMessages: 100, maxBytes: 10 });
      await store.append(INBOX, msg('123456'));
      await expect(store.append(INBOX, msg('12345'))).rejects.toMatchObject({
        code: 'inbox_full',
      });
      await store.append(INBOX, msg('1234'));
      const leased = await store.lease(INBOX, 10, 10_000);
      expect(
        await store.remove(
          INBOX,
          leased.map((m) => m.id),
        ),
      ).toBe(2);
      await store.append(INBOX, msg('0123456789'));
    });

    it('quota: expired messages do not count', async () => {
      const store = await fresh({ maxMessages: 2, maxBytes: 1_000_000 });
      await store.append(INBOX, msg('short', 30));
      await store.append(INBOX, msg('short', 30));
      await expect(store.append(INBOX, msg('x'))).rejects.toMatchObject({ code: 'inbox_full' });
      await new Promise((r) => setTimeout(r, 50));
      await store.append(INBOX, msg('after expiry'));
      await store.append(INBOX, msg('after expiry 2'));
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual([
        'after expiry',
        'after expiry 2',
      ]);
    });

    it('quota: a short-lived message behind long-lived ones frees its place when it expires', async () => {
      const store = await fresh({ maxMessages: 2, maxBytes: 1_000_000 });
      await store.append(INBOX, msg('long', 60_000));
      await store.append(INBOX, msg('short', 30));
      await expect(store.append(INBOX, msg('x'))).rejects.toMatchObject({ code: 'inbox_full' });
      await new Promise((r) => setTimeout(r, 50));
      await store.append(INBOX, msg('after expiry'));
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['long', 'after expiry']);
    });

    it('never leases an expired message, however many expired ones lie ahead of it', async () => {
      const store = await fresh();
      const past = Date.now() - 10;
      for (let i = 0; i < 700; i++) await store.append(INBOX, msg(`dead${i}`, 1, past));
      await store.append(INBOX, msg('alive'));
      expect(texts(await store.lease(INBOX, 1000, 10_000))).toEqual(['alive']);
    });

    it('keeps the sender of a signed post with the message', async () => {
      const store = await fresh();
      const from = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
      await store.append(INBOX, { ...msg('signed'), from });
      await store.append(INBOX, msg('anonymous'));
      const leased = await store.lease(INBOX, 10, 10_000);
      expect(leased.map((m) => [Buffer.from(m.body).toString(), m.from])).toEqual([
        ['signed', from],
        ['anonymous', undefined],
      ]);
      // the quota charge comes back in full when the messages go
      await store.remove(
        INBOX,
        leased.map((m) => m.id),
      );
      await store.append(INBOX, msg('after'));
    });

    it('reserveOrStore: stores at once when the inbox has no policy (and nobody is present)', async () => {
      const store = await fresh();
      const m = msg('fast', 60_000);
      const r = await store.reserveOrStore(INBOX, { ...m, binary: true });
      expect(r.stored).toMatchObject({ t: m.t, expiresAt: m.t + 60_000, duplicate: false });
      const [leased, ...more] = await store.lease(INBOX, 10, 10_000);
      expect(more).toEqual([]);
      expect(leased).toMatchObject({ id: r.stored!.id, binary: true, t: m.t, ttlMs: 60_000 });
      expect(Buffer.from(leased!.body).toString()).toBe('fast');
      // Ids keep increasing across both paths.
      const next = await store.reserve(INBOX);
      expect(compareIds(r.stored!.id, next.id!)).toBeLessThan(0);
    });

    it('reserveOrStore: only reserves when the inbox has a policy, and hands the policy over', async () => {
      const store = await fresh();
      await world.setPolicy(store, INBOX, '{"only":[]}');
      const r = await store.reserveOrStore(INBOX, msg('judged'));
      expect(r.stored).toBeUndefined();
      expect(r.policy).toBe('{"only":[]}');
      expect(r.id).toMatch(/^\d+$/);
      expect(await store.lease(INBOX, 10, 10_000)).toEqual([]);
      await world.setPolicy(store, INBOX, null);
      expect((await store.reserveOrStore(INBOX, msg('now'))).stored).toBeDefined();
    });

    it('reserveOrStore: only reserves while another relay has a live socket of the inbox', async () => {
      if (!world.setPresence) return; // a store that sees no other relay: the caller's check is all
      const store = await fresh();
      await world.setPresence(store, INBOX, 'othernode', Date.now() + 60_000);
      const r = await store.reserveOrStore(INBOX, msg('live'));
      expect(r.stored).toBeUndefined();
      expect(r.present).toEqual(['othernode']);
      expect(await store.lease(INBOX, 10, 10_000)).toEqual([]);
      // A presence that ran out (its node died) does not count.
      await world.setPresence(store, INBOX, 'othernode', Date.now() - 1);
      expect((await store.reserveOrStore(INBOX, msg('stored'))).stored).toBeDefined();
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['stored']);
    });

    it('reserveOrStore: an idempotency key answers a retry with the first answer, once', async () => {
      const store = await fresh();
      const first = await store.reserveOrStore(INBOX, msg('once'), 'key-1');
      expect(first.stored).toBeDefined();
      const again = await store.reserveOrStore(INBOX, msg('once'), 'key-1');
      expect(again.prior).toEqual({ id: first.stored!.id, t: first.stored!.t });
      expect((await store.reserve(INBOX, 'key-1')).prior).toEqual(again.prior);
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['once']);
    });

    it('reserveOrStore: a key still pending elsewhere is busy (503), and stores nothing', async () => {
      const store = await fresh();
      await store.reserve(INBOX, 'key-2');
      await expect(store.reserveOrStore(INBOX, msg('twice'), 'key-2')).rejects.toMatchObject({
        code: 'unavailable',
      });
      expect(await store.lease(INBOX, 10, 10_000)).toEqual([]);
    });

    it('reserveOrStore: a full inbox refuses (inbox_full) and keeps no key', async () => {
      const store = await fresh({ maxMessages: 1, maxBytes: 1_000_000 });
      await store.append(INBOX, msg('first'));
      await expect(store.reserveOrStore(INBOX, msg('second'), 'key-3')).rejects.toMatchObject({
        code: 'inbox_full',
      });
      // Nothing is pending under the key: once there is room, the retry is stored.
      const [first] = await store.lease(INBOX, 10, 10_000);
      await store.remove(INBOX, [first!.id]);
      const retry = await store.reserveOrStore(INBOX, msg('second'), 'key-3');
      expect(retry.stored).toBeDefined();
      expect(texts(await store.lease(INBOX, 10, 10_000))).toEqual(['second']);
    });

    it('answers ping', async () => {
      const store = await fresh();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
