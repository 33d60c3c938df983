import { describe, expect, it } from 'vitest';
import { ChallengeKeyring, type KeyDirectory } from '../../src/auth/keyring.js';
import { decodeB64url, encodeB64url } from '../../src/client/b64url.js';

const ID = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const OTHER = 'N7O2QrddEOeYiyHq0dRP6Uvf30quD655PlalxdTgkYQ';

function clock(start = 1_000_000) {
  const c = { now: start };
  return { c, now: () => c.now };
}

describe('ChallengeKeyring', () => {
  it('issues challenges with 33-byte txt and a 64-byte signature that verify', async () => {
    const ring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    const ch = await ring.issue(ID);
    expect(decodeB64url(ch.txt)!.length).toBe(33);
    expect(decodeB64url(ch.sig)!.length).toBe(64);
    expect(await ring.check(ID, ch)).toMatchObject({ ok: true });
  });

  it('every challenge carries fresh randomness', async () => {
    // A frozen clock and one key: only the 16 random bytes can tell them apart.
    // 600 challenges draw from the nonce pool across two refills.
    const { now } = clock();
    const ring = new ChallengeKeyring({ freshKey: 1000, challengeTtlMs: 30_000, now });
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      seen.add(encodeB64url(decodeB64url((await ring.issue(ID)).txt)!.subarray(17)));
    }
    expect(seen.size).toBe(600);
  });

  it('replaces the key after freshKey challenges and keeps old keys until their challenges expire', async () => {
    const { c, now } = clock();
    const ring = new ChallengeKeyring({ freshKey: 2, challengeTtlMs: 1000, now });
    const first = [await ring.issue(ID), await ring.issue(ID)];
    const third = await ring.issue(ID);
    expect(ring.size).toBe(2);
    // key id lives in bytes 1..9 of txt
    const keyId = (t: string) => encodeB64url(decodeB64url(t)!.subarray(1, 9));
    expect(keyId(first[0]!.txt)).toBe(keyId(first[1]!.txt));
    expect(keyId(third.txt)).not.toBe(keyId(first[0]!.txt));
    for (const ch of first) expect((await ring.check(ID, ch)).ok).toBe(true);
    c.now += 1001;
    await ring.issue(ID); // prunes
    expect(ring.size).toBe(1);
    expect(await ring.check(ID, first[0]!)).toEqual({ ok: false, reason: 'forged' });
  });

  it('rejects a challenge bound to another inbox', async () => {
    const ring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    expect(await ring.check(OTHER, await ring.issue(ID))).toEqual({ ok: false, reason: 'forged' });
  });

  it('rejects a tampered txt, a tampered sig and malformed encodings', async () => {
    const ring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    const ch = await ring.issue(ID);
    const txt = decodeB64url(ch.txt)!;
    txt[20] = txt[20]! ^ 1;
    expect((await ring.check(ID, { ...ch, txt: encodeB64url(txt) })).ok).toBe(false);
    const sig = decodeB64url(ch.sig)!;
    sig[5] = sig[5]! ^ 1;
    expect((await ring.check(ID, { ...ch, sig: encodeB64url(sig) })).ok).toBe(false);
    expect((await ring.check(ID, { txt: '***', sig: ch.sig })).ok).toBe(false);
    expect((await ring.check(ID, { txt: ch.txt, sig: '' })).ok).toBe(false);
    expect((await ring.check(ID, { txt: '', sig: ch.sig })).ok).toBe(false);
  });

  it('a challenge is for a socket or for a session, never both', async () => {
    const ring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    const socket = await ring.issue(ID);
    const session = await ring.issue(ID, 'session');
    expect(decodeB64url(socket.txt)![0]).toBe(1);
    expect(decodeB64url(session.txt)![0]).toBe(2);
    expect(await ring.check(ID, socket)).toMatchObject({ ok: true });
    expect(await ring.check(ID, session, 'session')).toMatchObject({ ok: true });
    expect(await ring.check(ID, socket, 'session')).toEqual({ ok: false, reason: 'other_use' });
    expect(await ring.check(ID, session, 'socket')).toEqual({ ok: false, reason: 'other_use' });
    expect(ring.checkExpiry(socket)).toMatchObject({ ok: true });
    expect(ring.checkExpiry(session, 'session')).toMatchObject({ ok: true });
    expect(ring.checkExpiry(socket, 'session')).toEqual({ ok: false, reason: 'other_use' });
    expect(ring.checkExpiry(session)).toEqual({ ok: false, reason: 'other_use' });
    // The use byte is signed: switching it makes the challenge a forgery.
    const switched = decodeB64url(socket.txt)!;
    switched[0] = 2;
    const forged = { ...socket, txt: encodeB64url(switched) };
    expect(await ring.check(ID, forged, 'session')).toEqual({ ok: false, reason: 'forged' });
    // And a use byte that names nothing is no challenge at all.
    for (const byte of [0, 3, 255]) {
      const other = decodeB64url(socket.txt)!;
      other[0] = byte;
      const challenge = { ...socket, txt: encodeB64url(other) };
      expect(await ring.check(ID, challenge)).toEqual({ ok: false, reason: 'forged' });
      expect(ring.checkExpiry(challenge)).toEqual({ ok: false, reason: 'forged' });
    }
  });

  it('rejects a challenge signed by another relay (another keyring)', async () => {
    const ours = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    const theirs = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    await ours.issue(ID);
    expect(await ours.check(ID, await theirs.issue(ID))).toEqual({ ok: false, reason: 'forged' });
  });

  it('rejects an expired challenge after checking the signature', async () => {
    const { c, now } = clock();
    const ring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 1000, now });
    const ch = await ring.issue(ID);
    c.now += 999;
    expect((await ring.check(ID, ch)).ok).toBe(true);
    c.now += 1;
    expect(await ring.check(ID, ch)).toEqual({ ok: false, reason: 'expired' });
  });

  describe('with a key directory (shared with other relays)', () => {
    /** A directory in memory whose writes finish only when the test says so. */
    function slowDirectory() {
      const held = new Map<string, { spki: Buffer; until: number }>();
      const writes: { keyId: string; until: number; finish: (ok: boolean) => void }[] = [];
      const directory: KeyDirectory = {
        publish: (keyId, spki, until) =>
          new Promise<void>((resolve, reject) => {
            writes.push({
              keyId,
              until,
              finish: (ok) => {
                if (!ok) return reject(new Error('directory down'));
                held.set(keyId, { spki, until });
                resolve();
              },
            });
          }),
        lookup: async (keyId) => held.get(keyId)?.spki ?? null,
      };
      return { directory, writes };
    }
    const settle = () => new Promise((r) => setImmediate(r));

    it('publishes a new key once for the challenges asked while it is written, before any is handed out', async () => {
      const { now } = clock();
      const { directory, writes } = slowDirectory();
      const ring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000, directory, now });
      let handed = 0;
      const issued = Array.from({ length: 5 }, () => ring.issue(ID).then((ch) => (handed++, ch)));
      await settle();
      expect(writes).toHaveLength(1);
      expect(handed).toBe(0);
      writes[0]!.finish(true);
      const challenges = await Promise.all(issued);
      expect(writes).toHaveLength(1);
      // Another relay of the same directory verifies every one of them.
      const other = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000, directory, now });
      for (const ch of challenges) expect((await other.check(ID, ch)).ok).toBe(true);
    });

    it('writes again when the key must outlive what was published, and after a failed write', async () => {
      const { c, now } = clock();
      const { directory, writes } = slowDirectory();
      const ring = new ChallengeKeyring({ freshKey: 100, challengeTtlMs: 1000, directory, now });
      const first = ring.issue(ID);
      await settle();
      writes[0]!.finish(false); // the directory is down: the challenge still works here
      const ch = await first;
      expect((await ring.check(ID, ch)).ok).toBe(true);
      const second = ring.issue(ID);
      await settle();
      expect(writes).toHaveLength(2);
      writes[1]!.finish(true);
      await second;
      expect(writes[1]!.until).toBe(c.now + 2000);
      // Covered until then: no write; past it, one more.
      c.now += 900;
      await ring.issue(ID);
      expect(writes).toHaveLength(2);
      c.now += 200;
      const third = ring.issue(ID);
      await settle();
      expect(writes).toHaveLength(3);
      writes[2]!.finish(true);
      await third;
    });
  });
});
