/** Redis payload formats: format 1 (written by every relay version) and format 2 (with a sender). */
import { describe, expect, it } from 'vitest';
import { parsePayload } from '../../src/store/redis-store.js';

const FROM = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';

describe('parsePayload', () => {
  it('reads format 1, as relays before format 2 wrote it (a body may hold colons)', () => {
    const m = parsePayload('7', Buffer.from('1795344952645:1795345012645:0:a:b:c'));
    expect(m).toEqual({
      id: '7',
      t: 1795344952645,
      expiresAt: 1795345012645,
      ttlMs: 60_000,
      binary: false,
      body: Buffer.from('a:b:c'),
    });
  });

  it('reads format 2 with the sender, binary or not', () => {
    const m = parsePayload('8', Buffer.from(`~2:1795344952645:1795345012645:1:${FROM}:\x00:\x01`));
    expect(m).toMatchObject({ id: '8', binary: true, from: FROM, ttlMs: 60_000 });
    expect([...m.body]).toEqual([0, 0x3a, 1]);
  });
});
