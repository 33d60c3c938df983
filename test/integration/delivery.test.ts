/** Legacy delivery (PROTOCOL.md §3.2) on the embedded store. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, expectNothingBefore, postText } from '../helpers/socket.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startRelay();
});
afterAll(() => t.close());

describe('legacy delivery', () => {
  it('flushes stored messages oldest first, each as one frame holding the posted body', async () => {
    const keys = generateKeys();
    const bodies = Array.from({ length: 30 }, (_, i) => `{"n":${i},"text":"message ${i}"}`);
    for (const b of bodies) expect((await postText(t.url, keys.id, b)).status).toBe(200);
    const s = await authedSocket(t.wsUrl, keys);
    for (const b of bodies) {
      const f = await s.next();
      expect(f.binary).toBe(false);
      expect(f.text).toBe(b);
    }
    s.close();
  });

  it('delivers a binary post in a binary frame, byte for byte', async () => {
    const keys = generateKeys();
    const body = Buffer.from([0, 1, 2, 250, 255, 0x80]);
    const res = await fetch(`${t.url}/${keys.id}`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(res.status).toBe(200);
    const s = await authedSocket(t.wsUrl, keys);
    const f = await s.next();
    expect(f.binary).toBe(true);
    expect(f.data).toEqual(body);
    s.close();
  });

  it('does not deliver a message twice: the store is empty after the flush', async () => {
    const keys = generateKeys();
    await postText(t.url, keys.id, 'once');
    const a = await authedSocket(t.wsUrl, keys);
    expect((await a.next()).text).toBe('once');
    a.close();
    await a.closed;
    const b = await authedSocket(t.wsUrl, keys);
    await expectNothingBefore(t.url, b, keys);
    b.close();
  });

  it('forwards live messages to every authenticated socket of the id, without storing them', async () => {
    const keys = generateKeys();
    const sockets = await Promise.all([1, 2, 3].map(() => authedSocket(t.wsUrl, keys)));
    const other = await authedSocket(t.wsUrl, generateKeys());
    for (const body of ['live 1', 'live 2']) await postText(t.url, keys.id, body);
    for (const s of sockets) {
      expect((await s.next()).text).toBe('live 1');
      expect((await s.next()).text).toBe('live 2');
    }
    expect(other.buffered).toBe(0);
    for (const s of sockets) s.close();
    await Promise.all(sockets.map((s) => s.closed));
    const later = await authedSocket(t.wsUrl, keys);
    await expectNothingBefore(t.url, later, keys);
    later.close();
    other.close();
  });

  it('gives stored messages to the socket that connected first', async () => {
    const keys = generateKeys();
    await postText(t.url, keys.id, 'stored');
    const first = await authedSocket(t.wsUrl, keys);
    expect((await first.next()).text).toBe('stored');
    const second = await authedSocket(t.wsUrl, keys);
    await expectNothingBefore(t.url, second, keys);
    first.close();
    second.close();
  });

  it('keeps order when live messages arrive during a flush', async () => {
    const keys = generateKeys();
    const stored = Array.from({ length: 300 }, (_, i) => `s${i}`);
    for (const b of stored) await postText(t.url, keys.id, b);
    const s = await authedSocket(t.wsUrl, keys);
    const live = Array.from({ length: 10 }, (_, i) => `l${i}`);
    for (const b of live) await postText(t.url, keys.id, b);
    const got: string[] = [];
    for (let i = 0; i < stored.length + live.length; i++) got.push((await s.next()).text);
    expect(got).toEqual([...stored, ...live]);
    s.close();
  });

  it('?store=false delivers to live sockets and never stores', async () => {
    const keys = generateKeys();
    const res = await fetch(`${t.url}/${keys.id}?store=false`, { method: 'POST', body: 'gone' });
    expect(res.status).toBe(200);
    const s = await authedSocket(t.wsUrl, keys);
    await expectNothingBefore(t.url, s, keys);
    await fetch(`${t.url}/${keys.id}?store=false`, { method: 'POST', body: 'live only' });
    expect((await s.next()).text).toBe('live only');
    s.close();
  });

  it('TTL: 0 means deliver now or never (RFC 8030)', async () => {
    const keys = generateKeys();
    expect((await postText(t.url, keys.id, 'now or never', { TTL: '0' })).status).toBe(200);
    const s = await authedSocket(t.wsUrl, keys);
    await expectNothingBefore(t.url, s, keys);
    s.close();
  });

  it('stores for a slow consumer instead of dropping, and delivers everything later', async () => {
    const r = await startRelay({ maxBufferedBytes: 256 * 1024, maxMessageBytes: 64 * 1024 });
    try {
      const keys = generateKeys();
      const s = await authedSocket(r.wsUrl, keys);
      const sock = (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      sock.pause();
      const chunk = 'x'.repeat(60_000);
      const sent: string[] = [];
      for (let i = 0; i < 200; i++) {
        const body = `${i}:${chunk}`;
        expect((await postText(r.url, keys.id, body)).status).toBe(200);
        sent.push(body);
      }
      sock.resume();
      const got = new Set<string>();
      while (got.size < sent.length) {
        const f = await s.next();
        expect(got.has(f.text)).toBe(false);
        got.add(f.text);
      }
      expect([...got].sort()).toEqual([...sent].sort());
      s.close();
    } finally {
      await r.close();
    }
  });
});

describe('TTL', () => {
  it('never delivers a message after msgTtl', async () => {
    const r = await startRelay({ msgTtl: 1, cleanPeriod: 1 });
    try {
      const keys = generateKeys();
      const { json } = await postText(r.url, keys.id, 'short-lived');
      await new Promise((res) => setTimeout(res, Number(json.t) + 1100 - Date.now()));
      const s = await authedSocket(r.wsUrl, keys);
      const marker = 'after expiry';
      await postText(r.url, keys.id, marker);
      expect((await s.next()).text).toBe(marker);
      s.close();
    } finally {
      await r.close();
    }
  });

  it('clamps a TTL header to msgTtl and honours a shorter one', async () => {
    const keys = generateKeys();
    const { json } = await postText(t.url, keys.id, 'one second', { TTL: '1' });
    await postText(t.url, keys.id, 'long', { TTL: '999999' });
    await new Promise((res) => setTimeout(res, Number(json.t) + 1100 - Date.now()));
    const s = await authedSocket(t.wsUrl, keys);
    expect((await s.next()).text).toBe('long');
    s.close();
  });
});
