/** The owner HTTP API (PROTOCOL.md §4) on both engines, and across two relays of one Redis. */
import { describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { connect, type WebSocketConstructor } from '../../src/client/connection.js';
import { generateKeys, solveChallenge, type OwnerKeys } from '../../src/client/keys.js';
import { encodeB64url } from '../../src/client/b64url.js';
import { bothEngines } from '../helpers/engines.js';
import { relaysPerTest, startRelay } from '../helpers/relay.js';
import { solutionFor, TestSocket } from '../helpers/socket.js';

const engines = bothEngines();
const relay = relaysPerTest();

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

async function challenge(url: string, keys: OwnerKeys) {
  const res = await fetch(`${url}/${keys.id}/challenge`);
  expect(res.status).toBe(200);
  return (await json(res)).challenge as { txt: string; sig: string };
}

function openSession(url: string, keys: OwnerKeys, body: unknown): Promise<Response> {
  return fetch(`${url}/${keys.id}/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function login(url: string, keys: OwnerKeys): Promise<string> {
  const c = await challenge(url, keys);
  const res = await openSession(url, keys, {
    publicKey: encodeB64url(keys.publicKey),
    challenge: c,
    solution: solveChallenge(keys, c.txt),
  });
  const body = await json(res);
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.expiresAt).toBeGreaterThan(Date.now());
  return body.token as string;
}

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

function call(url: string, token: string | null, method: string, body?: unknown) {
  return fetch(url, {
    method,
    headers: { ...(token ? auth(token) : {}), 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

const post = (url: string, id: string, text: string) =>
  fetch(`${url}/${id}`, { method: 'POST', body: text });

describe.each(engines)('owner API on %s', (_name, engine) => {
  it('logs in with a signed challenge; the token opens owner calls until revoked', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const res = await call(`${r.url}/${keys.id}/messages`, token, 'GET');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ messages: [] });
    expect((await call(`${r.url}/${keys.id}/session`, token, 'DELETE')).status).toBe(200);
    const after = await call(`${r.url}/${keys.id}/messages`, token, 'GET');
    expect(after.status).toBe(401);
    expect((await json(after)).error).toBe('unauthorized');
  });

  it('refuses every bad login with 401 and a sentence saying why', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const other = generateKeys();
    const publicKey = encodeB64url(keys.publicKey);
    const expectRefused = async (body: unknown, message: RegExp, status = 401) => {
      const res = await openSession(r.url, keys, body);
      const answer = await json(res);
      expect(res.status, JSON.stringify(answer)).toBe(status);
      expect(answer.message).toMatch(message);
    };
    let c = await challenge(r.url, keys);
    // someone else's key for this inbox
    await expectRefused(
      {
        publicKey: encodeB64url(other.publicKey),
        challenge: c,
        solution: solveChallenge(other, c.txt),
      },
      /does not belong to this inbox/,
    );
    // a challenge issued for another inbox
    const foreign = await challenge(r.url, other);
    await expectRefused(
      { publicKey, challenge: foreign, solution: solveChallenge(keys, foreign.txt) },
      /not signed by this relay for this inbox/,
    );
    // a forged relay signature
    await expectRefused(
      { publicKey, challenge: { ...c, sig: foreign.sig }, solution: solveChallenge(keys, c.txt) },
      /not signed by this relay/,
    );
    // a wrong solution
    await expectRefused(
      { publicKey, challenge: c, solution: solveChallenge(keys, foreign.txt) },
      /not a valid signature/,
    );
    // the right one works once, and only once
    const good = { publicKey, challenge: c, solution: solveChallenge(keys, c.txt) };
    expect((await openSession(r.url, keys, good)).status).toBe(200);
    await expectRefused(good, /already used/);
    // malformed bodies
    await expectRefused({ publicKey }, /publicKey/, 400);
    const notJson = await fetch(`${r.url}/${keys.id}/session`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    expect((await json(notJson)).error).toBe('invalid_body');
    c = await challenge(r.url, keys);
    expect(c.txt).toBeTruthy();
  });

  it('a challenge and solution of a WebSocket handshake do not open an owner session', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const s = new TestSocket(`${r.wsUrl}/${keys.id}`);
    try {
      await s.opened;
      const c = await s.challenge();
      const solved = solutionFor(keys, c);
      s.send(solved);
      expect((await s.nextJson()).message).toBe('handshake done');
      // Whoever saw that solution cannot log in with it: sockets' challenges are for sockets.
      const res = await openSession(r.url, keys, solved);
      const answer = await json(res);
      expect(res.status, JSON.stringify(answer)).toBe(401);
      expect(answer.error).toBe('unauthorized');
      expect(answer.message).toMatch(/GET \/\{id\}\/challenge/);
    } finally {
      s.close();
    }
    // Nor the other way round: a session challenge is refused on a socket.
    const c = await challenge(r.url, keys);
    const t = new TestSocket(`${r.wsUrl}/${keys.id}`);
    try {
      await t.opened;
      t.send(solutionFor(keys, c));
      const refused = await t.nextJson();
      expect(refused).toMatchObject({ error: 'unauthorized' });
      expect(refused.message).toMatch(/issued for an owner session/);
    } finally {
      t.close();
    }
  });

  it('failed logins count against the per-address limit of failed handshakes', async () => {
    const r = await relay({ ...engine(), authFailures: 2 });
    const keys = generateKeys();
    const publicKey = encodeB64url(keys.publicKey);
    for (let i = 0; i < 2; i++) {
      const c = await challenge(r.url, keys);
      const bad = await openSession(r.url, keys, { publicKey, challenge: c, solution: 'AAAA' });
      expect(bad.status).toBe(401);
    }
    const c = await challenge(r.url, keys);
    const good = { publicKey, challenge: c, solution: solveChallenge(keys, c.txt) };
    const refused = await openSession(r.url, keys, good);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error).toBe('rate_limited');
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('owner calls: 401 without or with an unknown token, 403 with a token of another inbox', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const other = generateKeys();
    const otherToken = await login(r.url, other);
    const url = `${r.url}/${keys.id}/messages`;
    for (const headers of [{}, { Authorization: 'Bearer nope' }, auth('A'.repeat(43))]) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(401);
      expect((await json(res)).error).toBe('unauthorized');
    }
    const res = await fetch(url, { headers: auth(otherToken) });
    expect(res.status).toBe(403);
    expect((await json(res)).error).toBe('forbidden');
  });

  it('fetch returns stored messages in order; they stay until acked', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    for (const text of ['one', 'two', 'three']) {
      expect((await post(r.url, keys.id, text)).status).toBe(200);
    }
    const first = await json(await call(`${r.url}/${keys.id}/messages?limit=2`, token, 'GET'));
    const msgs = first.messages as { id: string; t: number; data: string }[];
    expect(msgs.map((m) => m.data)).toEqual(['one', 'two']);
    // Leased to that fetch: the next one gets the rest.
    const second = await json(await call(`${r.url}/${keys.id}/messages`, token, 'GET'));
    expect((second.messages as { data: string }[]).map((m) => m.data)).toEqual(['three']);
    const ack = await call(`${r.url}/${keys.id}/ack`, token, 'POST', {
      ids: [msgs[0]!.id, msgs[1]!.id, '12345'],
    });
    expect(await json(ack)).toEqual({ deleted: 2 });
    const bad = await call(`${r.url}/${keys.id}/ack`, token, 'POST', { ids: ['x'] });
    expect(bad.status).toBe(400);
    const badQuery = await call(`${r.url}/${keys.id}/messages?wait=61`, token, 'GET');
    expect(badQuery.status).toBe(400);
  });

  it('mixes with WebSocket ack mode: one store, one lease, either ack', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    await post(r.url, keys.id, 'fetched over HTTP');
    const fetched = await json(await call(`${r.url}/${keys.id}/messages`, token, 'GET'));
    const [first] = fetched.messages as { id: string }[];
    const seen: string[] = [];
    const conn = connect({
      url: r.url,
      keys,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      ack: true,
      onMessage: (m) => {
        seen.push(m.data as string);
      },
    });
    try {
      await post(r.url, keys.id, 'sent on the socket');
      const until = Date.now() + 5000;
      while (!seen.includes('sent on the socket') && Date.now() < until) {
        await new Promise((res) => setTimeout(res, 20));
      }
      // the message leased to the HTTP fetch is not sent on the socket
      expect(seen).toEqual(['sent on the socket']);
      expect(
        await json(await call(`${r.url}/${keys.id}/ack`, token, 'POST', { ids: [first!.id] })),
      ).toEqual({
        deleted: 1,
      });
    } finally {
      conn.close();
    }
    await new Promise((res) => setTimeout(res, 100));
    // both are gone: one acked over HTTP, one by the socket
    const left = await json(await call(`${r.url}/${keys.id}/messages`, token, 'GET'));
    expect(left.messages).toEqual([]);
  });

  it('unacknowledged messages come back once their lease ends', async () => {
    const r = await relay({ ...engine(), heartbeat: 1 });
    const keys = generateKeys();
    const token = await login(r.url, keys);
    await post(r.url, keys.id, 'again');
    const url = `${r.url}/${keys.id}/messages`;
    expect(((await json(await call(url, token, 'GET'))).messages as unknown[]).length).toBe(1);
    expect(((await json(await call(url, token, 'GET'))).messages as unknown[]).length).toBe(0);
    await new Promise((res) => setTimeout(res, 3200));
    expect(((await json(await call(url, token, 'GET'))).messages as unknown[]).length).toBe(1);
  });

  it('a long-poll answers as soon as a message arrives', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const started = Date.now();
    const poll = call(`${r.url}/${keys.id}/messages?wait=20`, token, 'GET');
    await new Promise((res) => setTimeout(res, 300));
    expect((await post(r.url, keys.id, 'wake up')).status).toBe(200);
    const body = await json(await poll);
    expect((body.messages as { data: string }[]).map((m) => m.data)).toEqual(['wake up']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('long-polls past maxSocketsPerInbox: 429 too_many_sockets with Retry-After', async () => {
    const r = await relay({ ...engine(), maxSocketsPerInbox: 2 });
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const polls = [1, 2].map(() => call(`${r.url}/${keys.id}/messages?wait=2`, token, 'GET'));
    await new Promise((res) => setTimeout(res, 300));
    const third = await call(`${r.url}/${keys.id}/messages?wait=20`, token, 'GET');
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await json(third)).error).toBe('too_many_sockets');
    // Once the two polls have run out, a fetch is taken again.
    for (const poll of polls) expect(await json(await poll)).toEqual({ messages: [] });
    expect((await call(`${r.url}/${keys.id}/messages`, token, 'GET')).status).toBe(200);
  });

  it('a long-poll that runs out answers an empty list', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const started = Date.now();
    const body = await json(await call(`${r.url}/${keys.id}/messages?wait=1`, token, 'GET'));
    expect(body).toEqual({ messages: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('shutdown answers a waiting long-poll at once, and the relay closes promptly', async () => {
    const r = await startRelay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const poll = call(`${r.url}/${keys.id}/messages?wait=60`, token, 'GET');
    await new Promise((res) => setTimeout(res, 300));
    const started = Date.now();
    await r.close();
    const res = await poll;
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ messages: [] });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a client that goes away leaves the messages for the next fetch', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const abort = new AbortController();
    const gone = fetch(`${r.url}/${keys.id}/messages?wait=20`, {
      headers: auth(token),
      signal: abort.signal,
    }).catch(() => null);
    await new Promise((res) => setTimeout(res, 200));
    abort.abort();
    await gone;
    await new Promise((res) => setTimeout(res, 200));
    await post(r.url, keys.id, 'for the next one');
    const body = await json(await call(`${r.url}/${keys.id}/messages`, token, 'GET'));
    expect((body.messages as { data: string }[]).map((m) => m.data)).toEqual(['for the next one']);
  });

  it('prekeys: each one-time prekey is handed out once; then null; count and add', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const bundle = {
      identityKey: 'aWRlbnRpdHk',
      signedPreKey: { keyId: 1, publicKey: 'c3Br', signature: 'c2ln' },
      preKeys: [1, 2, 3].map((keyId) => ({ keyId, publicKey: `cGs${keyId}` })),
    };
    expect((await fetch(`${r.url}/${keys.id}/keys`)).status).toBe(404);
    const put = await call(`${r.url}/${keys.id}/keys`, token, 'PUT', bundle);
    expect(await json(put)).toEqual({ preKeys: 3 });
    const handed = [];
    for (let i = 0; i < 4; i++) handed.push(await json(await fetch(`${r.url}/${keys.id}/keys`)));
    expect(handed.map((b) => (b.preKey as { keyId: number } | null)?.keyId ?? null)).toEqual([
      1,
      2,
      3,
      null,
    ]);
    expect(handed[0]).toMatchObject({
      identityKey: bundle.identityKey,
      signedPreKey: bundle.signedPreKey,
    });
    const count = await call(`${r.url}/${keys.id}/keys/count`, token, 'GET');
    expect(await json(count)).toEqual({ count: 0 });
    const added = await call(`${r.url}/${keys.id}/keys/prekeys`, token, 'POST', {
      preKeys: [{ keyId: 9, publicKey: 'cGs5' }],
    });
    expect(await json(added)).toEqual({ preKeys: 1 });
    // key material is validated only as bounded base64url
    for (const bad of [
      { ...bundle, identityKey: 'not base64!' },
      { ...bundle, identityKey: 'A'.repeat(257) },
      { ...bundle, signedPreKey: { keyId: -1, publicKey: 'c3Br', signature: 'c2ln' } },
      { ...bundle, preKeys: 'many' },
    ]) {
      const res = await call(`${r.url}/${keys.id}/keys`, token, 'PUT', bad);
      expect(res.status).toBe(400);
      expect((await json(res)).error).toBe('invalid_body');
    }
    // nobody but the owner writes keys
    expect((await call(`${r.url}/${keys.id}/keys`, null, 'PUT', bundle)).status).toBe(401);
  });

  it('prekeys: an inbox holds at most 1000 one-time prekeys (409 too_many_prekeys)', async () => {
    const r = await relay(engine());
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const batch = (from: number) =>
      Array.from({ length: 200 }, (_, i) => ({ keyId: from + i, publicKey: 'cGs' }));
    await call(`${r.url}/${keys.id}/keys`, token, 'PUT', {
      identityKey: 'aWQ',
      signedPreKey: { keyId: 1, publicKey: 'c3Br', signature: 'c2ln' },
      preKeys: batch(0),
    });
    for (let i = 1; i < 5; i++) {
      const res = await call(`${r.url}/${keys.id}/keys/prekeys`, token, 'POST', {
        preKeys: batch(i * 200),
      });
      expect(res.status).toBe(200);
    }
    const over = await call(`${r.url}/${keys.id}/keys/prekeys`, token, 'POST', {
      preKeys: batch(5000).slice(0, 1),
    });
    expect(over.status).toBe(409);
    expect((await json(over)).error).toBe('too_many_prekeys');
  });

  it('prekey fetches are rate limited per address and inbox', async () => {
    const r = await relay({ ...engine(), prekeyRate: 1, prekeyBurst: 3 });
    const keys = generateKeys();
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${r.url}/${keys.id}/keys`)).status);
    expect(statuses.slice(0, 4)).toEqual([404, 404, 404, 404]);
    expect(statuses).toContain(429);
    // another inbox has its own budget
    expect((await fetch(`${r.url}/${generateKeys().id}/keys`)).status).toBe(404);
  });

  it('owner fetches are rate limited per inbox, counted only once authorized', async () => {
    const r = await relay({ ...engine(), fetchRate: 1, fetchBurst: 2 });
    const keys = generateKeys();
    const token = await login(r.url, keys);
    const get = (t: string | null, id = keys.id) => call(`${r.url}/${id}/messages`, t, 'GET');
    // Requests without the token are refused before they count.
    for (let i = 0; i < 5; i++) expect((await get(null)).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(token)).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses).toContain(429);
    const over = await get(token);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await json(over)).toMatchObject({ error: 'rate_limited' });
    // Another inbox has its own budget.
    const other = generateKeys();
    expect((await get(await login(r.url, other), other.id)).status).toBe(200);
  });

  it('contact card: anyone reads it; private data: owner only; both bounded', async () => {
    const r = await relay({ ...engine(), maxDataBytes: 100 });
    const keys = generateKeys();
    const token = await login(r.url, keys);
    expect((await fetch(`${r.url}/${keys.id}/shareable`)).status).toBe(404);
    expect(
      (await call(`${r.url}/${keys.id}/shareable`, token, 'PUT', { name: 'Ann' })).status,
    ).toBe(200);
    expect(await json(await fetch(`${r.url}/${keys.id}/shareable`))).toEqual({ name: 'Ann' });
    expect((await call(`${r.url}/${keys.id}/shareable`, null, 'PUT', { name: 'Eve' })).status).toBe(
      401,
    );
    expect((await call(`${r.url}/${keys.id}/data`, token, 'PUT', [1, 2])).status).toBe(200);
    expect((await fetch(`${r.url}/${keys.id}/data`)).status).toBe(401);
    expect(await json(await call(`${r.url}/${keys.id}/data`, token, 'GET'))).toEqual([1, 2]);
    const big = await call(`${r.url}/${keys.id}/data`, token, 'PUT', { x: 'y'.repeat(200) });
    expect(big.status).toBe(413);
    const notJson = await call(`${r.url}/${keys.id}/data`, token, 'PUT', 'nope');
    expect(notJson.status).toBe(400);
  });
});

describe('routes from the table', () => {
  it('405 with Allow, preflight with the path methods, 404 and invalid_id', async () => {
    const r = await relay();
    const id = generateKeys().id;
    const put = await fetch(`${r.url}/${id}`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, OPTIONS');
    const pre = await fetch(`${r.url}/${id}/keys`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET, HEAD, PUT, OPTIONS');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect((await fetch(`${r.url}/${id}/nothing`)).status).toBe(404);
    const health = await fetch(`${r.url}/health`, { method: 'POST' });
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    const bad = await fetch(`${r.url}/not-an-id/keys`);
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toBe('invalid_id');
    expect((await fetch(`${r.url}/%41${id.slice(1)}/keys`)).status).toBe(400);
  });

  it("a WebSocket upgrade is taken on /{id} only; other paths get a plain request's answer", async () => {
    const r = await relay();
    const id = generateKeys().id;
    const upgrade = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${r.url}${path}`, {
          headers: {
            Connection: 'Upgrade',
            Upgrade: 'websocket',
            'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode!);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await upgrade(`/${id}`)).toBe(101);
    expect(await upgrade('/health')).toBe(404);
    expect(await upgrade(`/${id}/keys`)).toBe(404);
    expect(await upgrade('/')).toBe(404);
    expect(await upgrade('/not-an-id')).toBe(400);
  });
});

describe('owner API across two relays of one Redis', () => {
  const [, redisEngine] = engines[1]!;

  it('a session made on A works on B; a long-poll on B wakes for a POST on A', async () => {
    const config = redisEngine();
    const [a, b] = await Promise.all([relay(config), relay(config)]);
    const keys = generateKeys();
    const token = await login(a.url, keys);
    const poll = call(`${b.url}/${keys.id}/messages?wait=20`, token, 'GET');
    await new Promise((res) => setTimeout(res, 300));
    const started = Date.now();
    expect((await post(a.url, keys.id, 'across')).status).toBe(200);
    const body = await json(await poll);
    expect((body.messages as { data: string }[]).map((m) => m.data)).toEqual(['across']);
    expect(Date.now() - started).toBeLessThan(3000);
    // revoked on B: refused on A
    await call(`${b.url}/${keys.id}/session`, token, 'DELETE');
    expect((await call(`${a.url}/${keys.id}/messages`, token, 'GET')).status).toBe(401);
  });

  it('a challenge used on A cannot be used again on B', async () => {
    const config = redisEngine();
    const [a, b] = await Promise.all([relay(config), relay(config)]);
    const keys = generateKeys();
    const c = await challenge(a.url, keys);
    const body = {
      publicKey: encodeB64url(keys.publicKey),
      challenge: c,
      solution: solveChallenge(keys, c.txt),
    };
    const results = await Promise.all([
      openSession(a.url, keys, body),
      openSession(b.url, keys, body),
    ]);
    expect(results.map((res) => res.status).sort()).toEqual([200, 401]);
  });

  it('prekey pops on A and B never collide', async () => {
    const config = redisEngine();
    const [a, b] = await Promise.all([relay(config), relay(config)]);
    const keys = generateKeys();
    const token = await login(a.url, keys);
    await call(`${a.url}/${keys.id}/keys`, token, 'PUT', {
      identityKey: 'aWQ',
      signedPreKey: { keyId: 1, publicKey: 'c3Br', signature: 'c2ln' },
      preKeys: Array.from({ length: 100 }, (_, keyId) => ({ keyId, publicKey: 'cGs' })),
    });
    const handed = await Promise.all(
      Array.from({ length: 140 }, (_, i) =>
        fetch(`${(i % 2 ? a : b).url}/${keys.id}/keys`).then(json),
      ),
    );
    const ids = handed.map((h) => (h.preKey as { keyId: number } | null)?.keyId ?? null);
    const given = ids.filter((id) => id !== null);
    expect(given).toHaveLength(100);
    expect(new Set(given).size).toBe(100);
  });
});
