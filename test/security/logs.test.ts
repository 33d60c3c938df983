/**
 * Logs an operator can use and an attacker cannot flood: at debug, each
 * POST's outcome, each delivery and each close; never a body, a key, an
 * inbox id or a client address; client mistakes never at error level.
 */
import { describe, expect, it } from 'vitest';
import { encodeB64url } from '../../src/client/b64url.js';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay } from '../helpers/relay.js';
import { authedSocket, postText, TestSocket } from '../helpers/socket.js';

describe('logs', () => {
  it('debug: outcomes of posts, deliveries and closes, with nothing private', async () => {
    const t = await startRelay({ maxMessageBytes: 1000, inboxMaxBytes: 2000 }, 'debug');
    try {
      const online = generateKeys();
      const offline = generateKeys();
      const secret = 'very-secret-body';
      await postText(t.url, offline.id, `${secret} stored`);
      const s = await authedSocket(t.wsUrl, online);
      await postText(t.url, online.id, `${secret} live`);
      await s.next();
      await postText(t.url, offline.id, 'x'.repeat(1001)); // 413
      await postText(t.url, offline.id, 'y'.repeat(1000));
      await postText(t.url, offline.id, 'z'.repeat(1000)); // 507
      const late = await authedSocket(t.wsUrl, offline);
      await late.next();
      const bad = new TestSocket(`${t.wsUrl}/${generateKeys().id}`);
      await bad.opened;
      bad.send({ publicKey: 'AAAA', challenge: await bad.challenge(), solution: 'AAAA' });
      await bad.closed;
      s.close();
      late.close();
      await Promise.all([s.closed, late.closed]);
      await new Promise((r) => setTimeout(r, 50));

      const msgs = t.logs.map((l) => `${String(l.msg)} ${String(l.outcome ?? l.code ?? '')}`);
      expect(msgs).toContain('post stored');
      expect(msgs).toContain('post delivered live');
      expect(msgs).toContain('request refused too_large');
      expect(msgs).toContain('post refused inbox_full');
      expect(msgs).toContain('delivered from store ');
      expect(msgs).toContain('delivered live ');
      expect(msgs).toContain('handshake failed unauthorized');
      expect(t.logs.some((l) => l.msg === 'socket closed')).toBe(true);

      const text = t.logs
        .filter((l) => l.msg !== 'listening')
        .map((l) => JSON.stringify(l))
        .join('\n');
      for (const forbidden of [
        secret,
        online.id,
        offline.id,
        encodeB64url(online.publicKey),
        '127.0.0.1',
      ]) {
        expect(text).not.toContain(forbidden);
      }
      expect(t.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('info: no per-request lines at all', async () => {
    const t = await startRelay({}, 'info');
    try {
      const keys = generateKeys();
      for (let i = 0; i < 20; i++) await postText(t.url, keys.id, `m${i}`);
      await fetch(`${t.url}/nope/nope`);
      expect(t.logs.map((l) => l.msg)).toEqual(['listening']);
    } finally {
      await t.close();
    }
  });
});
