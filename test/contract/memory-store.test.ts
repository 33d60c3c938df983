import { expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { msg, storeContract } from './store-contract.js';

storeContract('memory', async (quota) => new MemoryStore({ cleanPeriodMs: 1000, quota }));

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
