/**
 * Rate limits (rate-limiter-flexible): POSTs per address, messages per inbox,
 * challenges and failed handshakes per address (close 4029), X-Forwarded-For
 * only from trusted proxies, limits shared across relays on Redis, and the
 * in-memory fallback when the limiter's Redis is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { generateKeys } from '../../src/client/keys.js';
import { createLimits } from '../../src/limits.js';
import { Redis } from 'ioredis';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { postText, TestSocket } from '../helpers/socket.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

const OFF = {
  postRate: 0,
  postBurst: 0,
  inboxRate: 0,
  inboxBurst: 0,
  handshakeRate: 0,
  prekeyRate: 0,
  prekeyBurst: 0,
  fetchRate: 0,
  fetchBurst: 0,
};

async function statuses(url: string, n: number, id: string, headers: Record<string, string> = {}) {
  const out: { status: number; retryAfter: string | null; error: unknown }[] = [];
  for (let i = 0; i < n; i++) {
    const r = await postText(url, id, `m${i}`, headers);
    out.push({ status: r.status, retryAfter: r.headers.get('retry-after'), error: r.json.error });
  }
  return out;
}

/** Opens a raw socket and asks challenges until the relay closes it; returns the close. */
async function askChallenges(wsUrl: string, n: number) {
  const s = new TestSocket(`${wsUrl}/${generateKeys().id}`);
  await s.opened;
  const frames: string[] = [];
  s.listen((f) => frames.push(f.text));
  for (let i = 0; i < n; i++) s.send({ get: 'challenge' });
  // Closed, or every challenge answered (then it stays open: null).
  const closed = await Promise.race([
    s.closed,
    (async () => {
      const deadline = Date.now() + 1500;
      while (frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      return null;
    })(),
  ]);
  s.ws.terminate();
  return { closed, challenges: frames.filter((f) => f.startsWith('{"challenge"')).length, frames };
}

describe('POST limits', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await startRelay({ ...OFF, postRate: 2, postBurst: 3 });
  });
  afterAll(() => t.close());

  it('per address: rate plus burst, then 429 rate_limited with Retry-After', async () => {
    const results = await statuses(t.url, 8, generateKeys().id);
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(5); // 2 per second + a burst of 3
    expect(ok).toBeLessThanOrEqual(7);
    const refused = results.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.error).toBe('rate_limited');
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    }
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    // Not trusted: the header changes nothing, the peer (127.0.0.1) is limited.
    const spoofed = await statuses(t.url, 8, generateKeys().id, { 'X-Forwarded-For': '9.9.9.9' });
    expect(spoofed.some((r) => r.status === 429)).toBe(true);
    const proxied = await startRelay({
      ...OFF,
      postRate: 2,
      postBurst: 3,
      trustProxy: '127.0.0.0/8',
    });
    try {
      // Trusted: each forwarded client has its own budget.
      for (let i = 0; i < 6; i++) {
        const r = await statuses(proxied.url, 4, generateKeys().id, {
          'X-Forwarded-For': `203.0.113.${i}`,
        });
        expect(r.every((x) => x.status === 200)).toBe(true);
      }
      // The same /64 is one client.
      const v6 = await statuses(proxied.url, 8, generateKeys().id, {
        'X-Forwarded-For': '2001:db8:1:2::1',
      });
      const v6b = await statuses(proxied.url, 2, generateKeys().id, {
        'X-Forwarded-For': '2001:db8:1:2:ffff::9',
      });
      expect([...v6, ...v6b].filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(3);
    } finally {
      await proxied.close();
    }
  });
});

describe('inbox limit', () => {
  it('messages per inbox from all senders: 429 past rate plus burst', async () => {
    const t = await startRelay({ ...OFF, inboxRate: 1, inboxBurst: 2, trustProxy: '127.0.0.1' });
    try {
      const id = generateKeys().id;
      const results: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await postText(t.url, id, `m${i}`, { 'X-Forwarded-For': `198.51.100.${i}` });
        results.push(r.status);
      }
      expect(results.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
      // Another inbox is not affected.
      expect((await postText(t.url, generateKeys().id, 'other')).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('handshake limits', () => {
  it('challenges per connection: the 9th closes the socket with 4029', async () => {
    const t = await startRelay({ ...OFF });
    try {
      const r = await askChallenges(t.wsUrl, 12);
      expect(r.challenges).toBe(8);
      expect(r.closed?.code).toBe(4029);
      expect(r.frames.at(-1)).toContain('"error":"rate_limited"');
    } finally {
      await t.close();
    }
  });

  it('challenges per address across connections: 4029 past rate plus burst', async () => {
    const t = await startRelay({ ...OFF, handshakeRate: 1, handshakeBurst: 4 });
    try {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await askChallenges(t.wsUrl, 3));
      const total = results.reduce((n, r) => n + r.challenges, 0);
      // A burst of 4, and 1 per second in the (at most two) seconds this takes.
      expect(total).toBeLessThanOrEqual(6);
      expect(total).toBeGreaterThanOrEqual(4);
      expect(results.some((r) => r.closed?.code === 4029)).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('failed handshakes per address: further challenges are refused with 4029', async () => {
    const t = await startRelay({ ...OFF, authFailures: 3 });
    try {
      for (let i = 0; i < 3; i++) {
        const s = new TestSocket(`${t.wsUrl}/${generateKeys().id}`);
        await s.opened;
        const challenge = await s.challenge();
        s.send({ publicKey: 'AAAA', challenge, solution: 'AAAA' });
        expect((await s.closed).code).toBe(4001);
      }
      const r = await askChallenges(t.wsUrl, 1);
      expect(r.challenges).toBe(0);
      expect(r.closed?.code).toBe(4029);
    } finally {
      await t.close();
    }
  });
});

describe('limits on Redis', () => {
  it('hold across relays sharing a Redis', async () => {
    const shared = {
      ...OFF,
      postRate: 2,
      postBurst: 2,
      redisUrl: server.url,
      redisPrefix: uniquePrefix(),
    };
    const [a, b] = await Promise.all([startRelay(shared), startRelay(shared)]);
    try {
      const id = generateKeys().id;
      const results: number[] = [];
      for (let i = 0; i < 8; i++)
        results.push((await postText(i % 2 ? a.url : b.url, id, `${i}`)).status);
      // 2 per second plus 2: one relay alone would have let all 8 through as 4 + 4.
      expect(results.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('fall back to counting in memory when the limiter Redis is down', async () => {
    const down = new Redis({
      port: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    down.on('error', () => {});
    const limits = createLimits(
      { ...OFF, postRate: 1, postBurst: 2, inboxBurst: 0, handshakeBurst: 0, authFailures: 0 },
      { client: down, prefix: uniquePrefix() },
    );
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      outcomes.push(
        await limits.post('192.0.2.1').then(
          () => 'ok',
          (e: { code: string }) => e.code,
        ),
      );
    }
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThanOrEqual(3);
    expect(outcomes).toContain('rate_limited');
    down.disconnect();
  });
});

it('every limit is off at 0', async () => {
  const t = await startRelay({ ...OFF, authFailures: 0 });
  try {
    const results = await statuses(t.url, 30, generateKeys().id);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const ws = new WebSocket(`${t.wsUrl}/${generateKeys().id}`);
    await new Promise((r) => ws.once('open', r));
    ws.close();
  } finally {
    await t.close();
  }
});
