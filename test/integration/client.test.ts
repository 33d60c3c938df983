/** The client SDK against a real relay: connect, iterate, post, reconnect. */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  generateKeys,
  post,
  RelayConnectionError,
  RelayRequestError,
  type WebSocketConstructor,
} from '../../src/client/index.js';
import { OwnerSession } from '../../src/client/owner.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startRelay();
});
afterAll(() => t.close());

const WS = WebSocket as unknown as WebSocketConstructor;

describe('client SDK', () => {
  it('post() returns the id, connect() yields stored then live messages, text and binary', async () => {
    const keys = generateKeys();
    const first = await post(`${t.url}/${keys.id}`, 'stored');
    expect(first.id).toMatch(/^\d+$/);
    const conn = connect({ url: t.url, keys, WebSocket: WS });
    await conn.ready;
    await post(`${t.url}/${keys.id}`, new Uint8Array([1, 2, 3]));
    const it = conn[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual({ data: 'stored', binary: false });
    expect((await it.next()).value).toEqual({ data: new Uint8Array([1, 2, 3]), binary: true });
    conn.close();
    expect((await it.next()).done).toBe(true);
  });

  it('post() raises the catalog error', async () => {
    const err = await post(`${t.url}/nope`, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayRequestError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_id' });
  });

  it('OwnerSession: fetch reports Retry-After when rate limited; poll waits it out and goes on', async () => {
    const r = await startRelay({ fetchRate: 1, fetchBurst: 0 });
    try {
      const keys = generateKeys();
      const session = await OwnerSession.login(r.url, keys);
      await post(`${r.url}/${keys.id}`, 'one');
      expect((await session.fetch()).map((m) => m.data)).toEqual(['one']);
      const err = await session.fetch().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RelayRequestError);
      expect(err).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 1 });
      // poll: the 429 waits its second, then the loop goes on with no messages.
      const started = Date.now();
      expect(await session.poll()).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      // An abort ends that wait at once.
      await session.fetch().catch(() => {}); // this second's fetch, used up (or refused)
      const stop = new AbortController();
      const waitStarted = Date.now();
      setTimeout(() => stop.abort(), 50);
      expect(await session.poll({ signal: stop.signal })).toEqual([]);
      expect(Date.now() - waitStarted).toBeLessThan(800);
    } finally {
      await r.close();
    }
  });

  it('reconnects with backoff after the relay restarts on the same port', async () => {
    const r1 = await startRelay();
    const port = Number(new URL(r1.url).port);
    const keys = generateKeys();
    let opens = 0;
    const conn = connect({
      url: r1.url,
      keys,
      WebSocket: WS,
      minDelayMs: 20,
      maxDelayMs: 100,
      onOpen: () => opens++,
    });
    await conn.ready;
    await r1.close();
    const r2 = await startRelay({ port });
    try {
      await post(`${r2.url}/${keys.id}`, 'after restart');
      const it = conn[Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ data: 'after restart', binary: false });
      expect(opens).toBe(2);
    } finally {
      conn.close();
      await r2.close();
    }
  });

  it('ends with an error, without reconnecting, when the handshake is refused', async () => {
    const keys = generateKeys();
    const wrong = { ...keys, id: generateKeys().id };
    const conn = connect({ url: t.url, keys: wrong, WebSocket: WS, minDelayMs: 10 });
    const err = await conn.ready.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayConnectionError);
    expect(err).toMatchObject({ code: 4001, error: 'unauthorized' });
  });
});
