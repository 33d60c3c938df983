import { expect, it, vi } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SWEEP_UNITS } from '../../src/sliced.js';
import { msg, storeContract } from './store-contract.js';

/** Each store's inbox policies, as the owner state would hold them. */
const policies = new WeakMap<object, Map<string, string>>();

storeContract(
  'memory',
  async (quota) => {
    const held = new Map<string, string>();
    const store = new MemoryStore({
      cleanPeriodMs: 1000,
      quota,
      policyOf: (inbox) => held.get(inbox) ?? null,
    });
    policies.set(store, held);
    return store;
  },
  {
    setPolicy: async (store, inbox, policy) => {
      const held = policies.get(store)!;
      if (policy === null) held.delete(inbox);
      else held.set(inbox, policy);
    },
  },
);

it('memory store without a policy source never stores at once (it cannot judge)', async () => {
  const store = new MemoryStore({ cleanPeriodMs: 1000 });
  const r = await store.reserveOrStore('a', msg('x'));
  expect(r.stored).toBeUndefined();
  expect(r.id).toMatch(/^\d+$/);
  expect(await store.lease('a', 10, 10_000)).toEqual([]);
  await store.close();
});

it('memory store: sweep deletes expired messages and empty inboxes', async () => {
  const now = { t: 1_000 };
  const store = new MemoryStore({ cleanPeriodMs: 60_000, now: () => now.t });
  await store.append('a', msg('1', 100, 1_000));
  await store.append('a', msg('2', 500, 1_000));
  await store.append('b', msg('3', 100, 1_000));
  now.t = 1_200;
  expect(store.sweep()).toBe(2);
  now.t = 2_000;
  expect(store.sweep()).toBe(1);
  expect(await store.lease('a', 10, 10)).toEqual([]);
  await store.close();
});

it('memory store: a stored body keeps no larger buffer alive (a pooled slice is copied)', async () => {
  const store = new MemoryStore({ cleanPeriodMs: 60_000, policyOf: () => null });
  // What the body reader hands over for a small body: a slice of a shared slab.
  const pooled = Buffer.concat([Buffer.from('tiny')]);
  expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
  await store.append('a', { ...msg('x'), body: pooled });
  expect((await store.reserveOrStore('b', { ...msg('x'), body: pooled })).stored).toBeDefined();
  const own = Buffer.from('exact'); // allocUnsafeSlow-like: no copy needed
  const exact = new Uint8Array(own);
  await store.append('c', { ...msg('x'), body: exact });
  for (const inbox of ['a', 'b']) {
    const [m] = await store.lease(inbox, 1, 10_000);
    expect(Buffer.from(m!.body).toString()).toBe('tiny');
    expect(m!.body.buffer.byteLength).toBe(4);
  }
  const [c] = await store.lease('c', 1, 10_000);
  expect(c!.body).toBe(exact);
  await store.close();
});

it('memory store: the periodic sweep drops expired messages and keys a slice per turn', async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'] });
  const now = { t: 1_000 };
  const expired: number[] = [];
  const store = new MemoryStore({
    cleanPeriodMs: 30_000,
    now: () => now.t,
    onExpired: (n) => expired.push(n),
  });
  try {
    // Each inbox's step costs 2 units once its message has expired.
    const inboxes = 3 * SWEEP_UNITS;
    for (let i = 0; i < inboxes; i++) await store.append(`i${i}`, msg(`m${i}`, 100, 1_000));
    await store.append('keyed', { ...msg('k', 100, 1_000), id: '1' }, 'key-1');
    const keyedBytes = store.bytes;
    now.t = 2_000;
    vi.advanceTimersByTime(30_000); // the timer starts a pass: its first slice runs now
    expect(store.size).toBe(inboxes + 1 - SWEEP_UNITS / 2);
    vi.advanceTimersToNextTimer(); // the next slice, a turn later
    expect(store.size).toBe(inboxes + 1 - SWEEP_UNITS);
    for (let i = 0; i < 10 && store.bytes > 0; i++) vi.advanceTimersToNextTimer();
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
    expect(keyedBytes).toBeGreaterThan(0);
    expect(expired.reduce((a, b) => a + b, 0)).toBe(inboxes + 1);
  } finally {
    await store.close();
    vi.useRealTimers();
  }
});

it('memory store: a message restored twice under one id is held once, the later copy', async () => {
  const store = new MemoryStore({ cleanPeriodMs: 60_000 });
  const saved = (id: string, text: string) => ({
    ...msg(text),
    id,
    expiresAt: Date.now() + 60_000,
    inbox: 'a',
  });
  // The highest id twice, then a lower one twice (stored late, between).
  store.restoreMessage(saved('300', 'first'));
  store.restoreMessage(saved('300', 'second'));
  store.restoreMessage(saved('100', 'low'));
  store.restoreMessage(saved('100', 'low, again'));
  // The only message of an inbox, twice: its queue is made anew.
  store.restoreMessage({ ...saved('5', 'b1'), inbox: 'b' });
  store.restoreMessage({ ...saved('5', 'b2'), inbox: 'b' });
  expect(store.size).toBe(3);
  const texts = async (inbox: string) =>
    (await store.lease(inbox, 10, 10_000)).map((m) => `${m.id} ${Buffer.from(m.body).toString()}`);
  expect(await texts('a')).toEqual(['100 low, again', '300 second']);
  expect(await texts('b')).toEqual(['5 b2']);
  // Charged once each: every byte comes back when they are removed.
  await store.remove('a', ['100', '300']);
  await store.remove('b', ['5']);
  expect(store.bytes).toBe(0);
  expect(store.size).toBe(0);
  await store.close();
});
