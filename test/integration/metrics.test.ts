/**
 * /metrics (prom-client): a registry per relay, every name `npchat_`, the
 * counters move with what the relay does, no label carries an inbox id, a key
 * or an address, and NPCHAT_METRICS turns them off or onto a port of their own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { encodeB64url } from '../../src/client/b64url.js';
import { generateKeys } from '../../src/client/keys.js';
import { bothEngines } from '../helpers/engines.js';
import { freePort } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, TestSocket } from '../helpers/socket.js';
import { SCRAPE_REUSE_MS } from '../../src/metrics.js';

const engines = bothEngines();

/** Parses the text format: `name{labels} value` lines into a map. */
async function scrape(url: string): Promise<{ text: string; values: Map<string, number> }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return { text, values };
}

for (const [name, engine] of engines) {
  describe(`metrics on ${name}`, () => {
    const relays: TestRelay[] = [];
    afterAll(() => Promise.all(relays.map((r) => r.close())));

    it('count what the relay does, with nothing private in any label', async () => {
      const t = await startRelay({ ...engine(), inboxMaxMessages: 1, postRate: 1, postBurst: 0 });
      relays.push(t);
      const offline = generateKeys();
      const online = generateKeys();
      // One POST a second from this address, no burst: the waits keep under it.
      expect((await postText(t.url, offline.id, 'stored')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await postText(t.url, offline.id, 'over quota')).status).toBe(507);
      expect((await postText(t.url, offline.id, 'too fast')).status).toBe(429);
      const s = await authedSocket(t.wsUrl, offline);
      expect((await s.next()).text).toBe('stored');
      const a = await authedSocket(t.wsUrl, online, { ack: true });
      await new Promise((r) => setTimeout(r, 1100));
      expect((await postText(t.url, online.id, 'acked')).status).toBe(200);
      const env = (await a.nextJson()) as { id: string };
      a.send({ ack: [env.id] });
      const bad = new TestSocket(`${t.wsUrl}/${generateKeys().id}`);
      await bad.opened;
      bad.send({ publicKey: 'AAAA', challenge: await bad.challenge(), solution: 'AAAA' });
      await bad.closed;
      await new Promise((r) => setTimeout(r, 100));

      const { text, values } = await scrape(t.url);
      const v = (k: string) => values.get(k) ?? 0;
      expect(v('npchat_posts_total{code="sent"}')).toBe(2);
      expect(v('npchat_posts_total{code="inbox_full"}')).toBe(1);
      expect(v('npchat_posts_total{code="rate_limited"}')).toBe(1);
      expect(v('npchat_post_duration_seconds_count{code="sent"}')).toBe(2);
      expect(v('npchat_handshakes_total{result="ok"}')).toBe(2);
      expect(v('npchat_handshakes_total{result="unauthorized"}')).toBe(1);
      expect(v('npchat_messages_total{event="stored"}')).toBe(2);
      expect(v('npchat_messages_total{event="flushed"}')).toBe(2);
      expect(v('npchat_messages_total{event="refused_quota"}')).toBe(1);
      expect(v('npchat_messages_total{event="acknowledged"}')).toBe(1);
      expect(v('npchat_rate_limited_total{limit="post"}')).toBe(1);
      expect(v('npchat_sockets_open{mode="legacy"}')).toBe(1);
      expect(v('npchat_sockets_open{mode="ack"}')).toBe(1);
      expect(v('npchat_delivery_latency_seconds_count{path="stored"}')).toBe(2);
      expect(values.has(`npchat_messages_stored{engine="${name}"}`)).toBe(true);
      expect(values.has('npchat_process_cpu_seconds_total')).toBe(true);

      // Every metric is ours, and no label carries an id, a key or an address.
      for (const line of text.split('\n')) {
        if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
          expect(line.split(' ')[2]).toMatch(/^npchat_/);
        } else if (line) {
          expect(line).toMatch(/^npchat_/);
        }
      }
      for (const secret of [offline.id, online.id, encodeB64url(online.publicKey), '127.0.0.1']) {
        expect(text).not.toContain(secret);
      }
      s.close();
      a.close();
    });

    it('live delivery and stored count', async () => {
      const t = await startRelay(engine());
      relays.push(t);
      const keys = generateKeys();
      const s = await authedSocket(t.wsUrl, keys);
      await postText(t.url, keys.id, 'live');
      await s.next();
      for (let i = 0; i < 3; i++) await postText(t.url, generateKeys().id, 'waits');
      const { values } = await scrape(t.url);
      expect(values.get('npchat_messages_total{event="delivered_live"}')).toBe(1);
      expect(values.get('npchat_delivery_latency_seconds_count{path="live"}')).toBe(1);
      expect(values.get(`npchat_messages_stored{engine="${name}"}`)).toBe(3);
      s.close();
    });
  });
}

describe('scrape cost', () => {
  it('/metrics reuses a scrape made within SCRAPE_REUSE_MS; a later one is fresh', async () => {
    const t = await startRelay();
    try {
      const sent = (text: string) => /npchat_posts_total\{code="sent"\} (\d+)/.exec(text)?.[1];
      const text = async () => (await scrape(t.url)).text;
      let checked = false;
      for (let attempt = 0; attempt < 3 && !checked; attempt++) {
        await new Promise((r) => setTimeout(r, SCRAPE_REUSE_MS + 50)); // the next one is made fresh
        const made = Date.now();
        const first = await text();
        await postText(t.url, generateKeys().id, 'x');
        // Asked for again and again (as a flood would): the same text, made once.
        const again = await Promise.all(Array.from({ length: 20 }, text));
        if (Date.now() - made >= SCRAPE_REUSE_MS - 200) continue; // too slow a machine to tell
        expect(new Set([first, ...again]).size).toBe(1);
        checked = true;
        await new Promise((r) => setTimeout(r, SCRAPE_REUSE_MS + 50));
        expect(Number(sent(await text()))).toBe(Number(sent(first) ?? 0) + 1);
      }
      expect(checked).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('NPCHAT_METRICS', () => {
  it('each relay has its own registry', async () => {
    const [a, b] = await Promise.all([startRelay(), startRelay()]);
    try {
      await postText(a.url, generateKeys().id, 'x');
      expect((await scrape(a.url)).values.get('npchat_posts_total{code="sent"}')).toBe(1);
      expect((await scrape(b.url)).values.get('npchat_posts_total{code="sent"}')).toBeUndefined();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('off: /metrics is not there', async () => {
    const t = await startRelay({ metrics: 'off' });
    try {
      const res = await fetch(`${t.url}/metrics`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: 'not_found' });
    } finally {
      await t.close();
    }
  });

  it('[host:]port: on a listener of their own, not on the public port', async () => {
    const port = await freePort();
    const t = await startRelay({ metrics: `127.0.0.1:${port}` });
    try {
      expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
      const { values } = await scrape(`http://127.0.0.1:${port}`);
      expect(values.has('npchat_process_cpu_seconds_total')).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(404);
    } finally {
      await t.close();
    }
    // Closed with the relay.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
