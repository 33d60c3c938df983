/** AckWindow: the ack-mode unit shared by the WebSocket and the long-poll fetch. */
import { describe, expect, it } from 'vitest';
import { AckWindow } from '../../src/delivery/ack-window.js';
import { MemoryStore } from '../../src/store/memory-store.js';

const INBOX = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';

async function filled(n: number) {
  const store = new MemoryStore({ cleanPeriodMs: 60_000 });
  for (let i = 0; i < n; i++) {
    await store.append(INBOX, {
      body: Buffer.from(`m${i}`),
      binary: false,
      t: Date.now(),
      ttlMs: 60_000,
    });
  }
  return store;
}

const texts = (ms: { body: Uint8Array }[]) => ms.map((m) => Buffer.from(m.body).toString());

describe('AckWindow', () => {
  it('leases at most its room; acks of ids not in flight here cost nothing', async () => {
    const store = await filled(5);
    const removed: number[] = [];
    const w = new AckWindow(store, INBOX, 3, 60_000, { removed: (n) => removed.push(n) });
    const batch = await w.lease(10);
    expect(texts(batch)).toEqual(['m0', 'm1', 'm2']);
    await w.sent(batch.map((m) => m.id));
    expect(w.room).toBe(0);
    expect(await w.lease()).toEqual([]);
    w.ack(['123', batch[0]!.id]);
    await new Promise((r) => setTimeout(r, 10));
    expect(removed).toEqual([1]);
    expect(w.room).toBe(1);
    expect(texts(await w.lease())).toEqual(['m3']);
    store.close();
  });

  it('end releases what is in flight; sent after the end releases at once', async () => {
    const store = await filled(3);
    const w = new AckWindow(store, INBOX, 10, 60_000);
    const batch = await w.lease();
    await w.sent([batch[0]!.id]);
    expect(await w.end()).toBe(1);
    expect(await w.sent([batch[1]!.id])).toBe(1);
    // m0 and m1 are free again; m2 is still leased (never settled)
    expect(texts(await store.lease(INBOX, 10, 60_000))).toEqual(['m0', 'm1']);
    store.close();
  });

  it('handOver keeps the leases: nothing is released', async () => {
    const store = await filled(2);
    const w = new AckWindow(store, INBOX, 10, 60_000);
    const batch = await w.lease();
    await w.sent(batch.map((m) => m.id));
    w.handOver();
    expect(await w.end()).toBe(0);
    expect(await store.lease(INBOX, 10, 60_000)).toEqual([]);
    store.close();
  });
});
