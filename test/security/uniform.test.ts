/**
 * A sender learns nothing about presence from the answer: online, offline
 * and unknown inboxes get the same status, headers and fields, and ids come
 * from one increasing sequence per inbox whichever path a message took (on
 * Redis across relays too, so one id never names two messages). The timing
 * that remains is measured and printed (the README's threat model quotes it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { compareIds } from '../../src/store/store.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';

const engines = bothEngines();

function shape(r: Awaited<ReturnType<typeof postText>>) {
  const headers: string[] = [];
  r.headers.forEach((_v, k) => k !== 'date' && headers.push(k));
  headers.sort();
  return { status: r.status, headers, fields: Object.keys(r.json).sort(), message: r.json.message };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const [name, engine] of engines) {
  describe(`uniform answers on ${name}`, () => {
    const relays: TestRelay[] = [];
    afterAll(() => Promise.all(relays.map((r) => r.close())));

    it('online, offline and unknown inboxes get the same answer', async () => {
      const t = await startRelay(engine());
      relays.push(t);
      const online = generateKeys();
      const offline = generateKeys();
      const s = await authedSocket(t.wsUrl, online);
      await postText(t.url, offline.id, 'makes the inbox known');
      const a = await postText(t.url, online.id, 'x');
      const b = await postText(t.url, offline.id, 'x');
      const c = await postText(t.url, generateKeys().id, 'x');
      expect(shape(a)).toEqual(shape(b));
      expect(shape(b)).toEqual(shape(c));
      expect((await s.next()).text).toBe('x');
      s.close();
    });

    it('ids increase per inbox across live and stored messages, none taken twice', async () => {
      const shared = engine();
      const a = await startRelay(shared);
      // On Redis a second relay shares the inboxes; in memory each relay is its own.
      const b = name === 'redis' ? await startRelay(shared) : a;
      relays.push(...new Set([a, b]));
      const keys = generateKeys();
      const ids: string[] = [];
      const post = async (url: string, text: string) =>
        ids.push((await postText(url, keys.id, text)).json.id as string);
      await post(a.url, 'stored 1');
      await post(a.url, 'stored 2');
      const s = await authedSocket(a.wsUrl, keys);
      await s.next();
      await s.next();
      await post(a.url, 'live 1');
      await post(b.url, 'live 2'); // forwarded from the other relay on Redis
      await s.next();
      await s.next();
      s.close();
      await s.closed;
      await post(b.url, 'stored 3');
      await post(a.url, 'stored 4');
      expect(new Set(ids).size).toBe(ids.length);
      for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
    });

    it('measures the time an answer takes for online, offline and unknown inboxes', async () => {
      const t = await startRelay(engine());
      relays.push(t);
      const online = generateKeys();
      const offline = generateKeys();
      const s = await authedSocket(t.wsUrl, online);
      s.listen(() => {});
      await postText(t.url, offline.id, 'known');
      const times: Record<string, number[]> = { online: [], offline: [], unknown: [] };
      for (let i = 0; i < 200; i++) {
        for (const [kind, id] of [
          ['online', online.id],
          ['offline', offline.id],
          ['unknown', generateKeys().id],
        ] as const) {
          const started = process.hrtime.bigint();
          const r = await postText(t.url, id, `t${i}`);
          times[kind]!.push(Number(process.hrtime.bigint() - started) / 1000);
          expect(r.status).toBe(200);
        }
      }
      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
      console.log(
        `POST latency medians on ${name} (µs, 200 each): online ${m.online!.toFixed(0)}, offline ${m.offline!.toFixed(0)}, unknown ${m.unknown!.toFixed(0)}`,
      );
      // Reported, not asserted: timing is for the bench, never a timed test.
      expect(Object.values(m).every((v) => v > 0)).toBe(true);
      s.close();
    });
  });
}
