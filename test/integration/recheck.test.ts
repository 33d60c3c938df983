/**
 * The periodic re-check of the store (PROTOCOL.md §3.4 heartbeat): a message
 * stored without a wake (a wake lost in a Redis outage, or a lease left by a
 * relay that died) reaches the owner's live socket within about a heartbeat.
 * On memory every socket re-flushes on its heartbeat; on Redis the hub does
 * it for every inbox in the call that refreshes its presence, and an idle
 * socket costs no lease per heartbeat.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import type { Engine } from '../../src/engine.js';
import type { Store } from '../../src/store/store.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, type TestSocket } from '../helpers/socket.js';

/** The relay's store with its lease calls counted. */
function counting(store: Store, counts: { leases: number }): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'lease' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        counts.leases++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const pings = (s: TestSocket, n: number) =>
  new Promise<void>((resolve) => {
    let seen = 0;
    s.ws.on('ping', () => ++seen === n && resolve());
  });

describe.each(bothEngines())('store re-check, %s', (name, engine) => {
  let relay: TestRelay | null = null;
  afterEach(async () => {
    await relay?.close();
    relay = null;
  });

  it('a message stored without a wake reaches the live socket; idle sockets lease only on memory', async () => {
    const counts = { leases: 0 };
    let store!: Store;
    relay = await startRelay({ ...engine(), heartbeat: 1 }, 'silent', {
      engine: (e: Engine) => {
        store = counting(e.store, counts);
        return { ...e, store };
      },
    });
    const owners = [generateKeys(), generateKeys(), generateKeys()];
    const sockets = await Promise.all(owners.map((k) => authedSocket(relay!.wsUrl, k)));
    try {
      const before = counts.leases;
      await pings(sockets[0]!, 3);
      const perBeat = counts.leases - before;
      if (name === 'memory') expect(perBeat).toBeGreaterThanOrEqual(2 * owners.length);
      else expect(perBeat).toBe(0);

      // Stored behind the hub's back: nobody is woken by the append.
      const t = Date.now();
      await store.append(owners[1]!.id, {
        body: Buffer.from('no wake'),
        binary: false,
        t,
        ttlMs: 60_000,
      });
      const got = await sockets[1]!.next(3000);
      expect(got.text).toBe('no wake');
    } finally {
      for (const s of sockets) s.close();
    }
  });
});
