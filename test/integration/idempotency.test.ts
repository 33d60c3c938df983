/** Idempotency-Key (PROTOCOL.md §2) over HTTP, on both engines, offline and live. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postRepeated, postText } from '../helpers/socket.js';

const engines = bothEngines();

for (const [name, engine] of engines) {
  describe(`Idempotency-Key on ${name}`, () => {
    let t: TestRelay;
    beforeAll(async () => {
      t = await startRelay(engine());
    });
    afterAll(() => t.close());

    it('a retry to an offline inbox stores nothing new and returns the first answer', async () => {
      const keys = generateKeys();
      const first = await postText(t.url, keys.id, 'payment #1', { 'Idempotency-Key': 'retry-1' });
      const retry = await postText(t.url, keys.id, 'payment #1', { 'Idempotency-Key': 'retry-1' });
      expect(retry.status).toBe(200);
      expect(retry.json).toEqual(first.json);
      const other = await postText(t.url, keys.id, 'payment #2', { 'Idempotency-Key': 'retry-2' });
      expect(other.json.id).not.toBe(first.json.id);
      const s = await authedSocket(t.wsUrl, keys);
      expect((await s.next()).text).toBe('payment #1');
      expect((await s.next()).text).toBe('payment #2');
      await postText(t.url, keys.id, 'marker');
      expect((await s.next()).text).toBe('marker');
      s.close();
    });

    it('a retry of a message delivered live is not delivered again', async () => {
      const keys = generateKeys();
      const s = await authedSocket(t.wsUrl, keys);
      const first = await postText(t.url, keys.id, 'live once', { 'Idempotency-Key': 'k' });
      expect((await s.next()).text).toBe('live once');
      const retry = await postText(t.url, keys.id, 'live once', { 'Idempotency-Key': 'k' });
      expect(retry.json).toEqual(first.json);
      await postText(t.url, keys.id, 'marker');
      expect((await s.next()).text).toBe('marker');
      s.close();
    });

    it('20 concurrent retries to an online owner, on two relays: delivered once, one answer', async () => {
      // On Redis a second relay on the same Redis and prefix; in memory the same relay.
      const other =
        name === 'redis'
          ? await startRelay({ redisUrl: t.config.redisUrl, redisPrefix: t.config.redisPrefix })
          : t;
      try {
        const keys = generateKeys();
        const s = await authedSocket(t.wsUrl, keys);
        const got: string[] = [];
        s.listen((f) => got.push(f.text));
        const answers = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            // Retries come back with 503 + Retry-After while the first is handled.
            for (;;) {
              const r = await postText(i % 2 ? other.url : t.url, keys.id, 'only once', {
                'Idempotency-Key': 'concurrent',
              });
              if (r.status !== 503) return r;
              expect(r.headers.get('retry-after')).toBe('1');
              await new Promise((res) => setTimeout(res, 20));
            }
          }),
        );
        expect(answers.every((a) => a.status === 200)).toBe(true);
        expect(new Set(answers.map((a) => a.json.id)).size).toBe(1);
        await postText(t.url, keys.id, 'marker');
        await new Promise((res) => setTimeout(res, 50));
        expect(got.filter((g) => g === 'only once')).toHaveLength(1);
        s.close();
      } finally {
        if (other !== t) await other.close();
      }
    });

    it('keys are per inbox', async () => {
      const [a, b] = [generateKeys(), generateKeys()];
      const ra = await postText(t.url, a.id, 'to a', { 'Idempotency-Key': 'shared' });
      const rb = await postText(t.url, b.id, 'to b', { 'Idempotency-Key': 'shared' });
      expect(rb.json.id).not.toBe(ra.json.id);
      const s = await authedSocket(t.wsUrl, b);
      expect((await s.next()).text).toBe('to b');
      s.close();
    });

    it('400 invalid_idempotency_key for an empty, too long or non-ASCII key', async () => {
      const keys = generateKeys();
      for (const key of ['', 'x'.repeat(65), 'naïve']) {
        const res = await fetch(`${t.url}/${keys.id}`, {
          method: 'POST',
          body: 'x',
          headers: { 'Idempotency-Key': key },
        });
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe('invalid_idempotency_key');
      }
    });

    it('400 for an Idempotency-Key or TTL header sent twice, not one joined value', async () => {
      const keys = generateKeys();
      const twice = await postRepeated(t.url, keys.id, 'x', { 'Idempotency-Key': ['a', 'b'] });
      expect(twice.status).toBe(400);
      expect(twice.json).toMatchObject({
        error: 'invalid_idempotency_key',
        message: 'The Idempotency-Key header appears more than once.',
      });
      const ttl = await postRepeated(t.url, keys.id, 'x', { TTL: ['60', '60'] });
      expect(ttl.status).toBe(400);
      expect(ttl.json).toMatchObject({
        error: 'invalid_ttl',
        message: 'The TTL header appears more than once.',
      });
      // Nothing was stored by either; one key, once, still works.
      const once = await postRepeated(t.url, keys.id, 'x', { 'Idempotency-Key': 'a' });
      expect(once.status).toBe(200);
    });
  });
}
