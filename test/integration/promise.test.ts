/**
 * "200 is a promise" (PROTOCOL.md §2), pinned deterministically on both
 * engines: a delivered stored message is deleted (not merely leased); a live
 * message that no socket wrote is stored; a store that fails after the hub
 * found no socket answers 503, never 200.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import type { Engine } from '../../src/engine.js';
import { RelayError } from '../../src/errors.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';

const engines = bothEngines();

for (const [name, engine] of engines) {
  describe(`200 is a promise on ${name}`, () => {
    const relays: TestRelay[] = [];
    afterAll(() => Promise.all(relays.map((r) => r.close())));
    async function relay(hook?: (e: Engine) => Engine) {
      let captured!: Engine;
      const t = await startRelay(engine(), 'silent', {
        engine: (e) => (captured = hook ? hook(e) : e),
      });
      relays.push(t);
      return { t, engine: () => captured };
    }

    it('legacy: a delivered stored message is deleted, not just leased', async () => {
      const { t, engine: e } = await relay();
      const keys = generateKeys();
      const { json } = await postText(t.url, keys.id, 'deliver me');
      const s = await authedSocket(t.wsUrl, keys);
      expect((await s.next()).text).toBe('deliver me');
      s.close();
      await s.closed;
      // Ending every lease at once, as if it had run out: a message still
      // stored would be leased again now.
      await e().store.release(keys.id, [json.id as string]);
      expect(await e().store.lease(keys.id, 10, 1000)).toEqual([]);
    });

    it('a live message that no socket wrote is stored, and delivered later', async () => {
      const { t } = await relay((e) => {
        // Every socket's write fails (as when each one closed mid-write).
        e.hub.publish = async () => false;
        return e;
      });
      const keys = generateKeys();
      const s = await authedSocket(t.wsUrl, keys);
      expect((await postText(t.url, keys.id, 'not written live')).status).toBe(200);
      // Stored, so the flush (woken by the append) delivers it.
      expect((await s.next()).text).toBe('not written live');
      s.close();
    });

    it('the store failing after the hub found no socket answers 503, never 200', async () => {
      // The usual path: reserve, publish (nobody takes it), append fails.
      let published = 0;
      const { t } = await relay((e) => {
        const publish = e.hub.publish.bind(e.hub);
        e.hub.publish = (...args) => {
          published++;
          return publish(...args);
        };
        e.store.reserveOrStore = (inbox, _msg, key) => e.store.reserve(inbox, key);
        e.store.append = async () => {
          throw new RelayError('unavailable', 'The store cannot take the message now.');
        };
        return e;
      });
      const r = await postText(t.url, generateKeys().id, 'nowhere');
      expect(published).toBe(1);
      expect(r.status).toBe(503);
      expect(r.json.error).toBe('unavailable');
      expect(r.headers.get('retry-after')).toBe('1');
      // The one-step path (no socket here, none elsewhere): the store fails it.
      let tried = 0;
      const fast = await relay((e) => {
        e.store.reserveOrStore = async () => {
          tried++;
          throw new RelayError('unavailable', 'The store cannot take the message now.');
        };
        return e;
      });
      const f = await postText(fast.t.url, generateKeys().id, 'nowhere');
      expect(tried).toBe(1);
      expect(f.status).toBe(503);
      expect(f.json.error).toBe('unavailable');
      // An unexpected failure too, on either path: 503, not 500 and not 200.
      for (const path of ['usual', 'one step'] as const) {
        const odd = await relay((e) => {
          const fail = async (): Promise<never> => {
            throw new Error('disk on fire');
          };
          if (path === 'usual') {
            e.store.reserveOrStore = (inbox, _msg, key) => e.store.reserve(inbox, key);
            e.store.append = fail;
          } else {
            e.store.reserveOrStore = fail;
          }
          return e;
        });
        expect((await postText(odd.t.url, generateKeys().id, 'x')).status).toBe(503);
      }
    });
  });
}
