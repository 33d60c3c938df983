import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  KEY_CACHE_SIZE,
  onCurve,
  parsePublicKey,
  verifySignature,
} from '../../src/auth/signature.js';

describe('parsePublicKey', () => {
  const raw = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'der' })
    .subarray(-65);

  it('imports an uncompressed point on the curve', () => {
    expect(parsePublicKey(raw)?.asymmetricKeyType).toBe('ec');
  });

  it('refuses an uncompressed point that is not on the curve', () => {
    const off = Buffer.from(raw);
    off[64]! ^= 1;
    expect(parsePublicKey(off)).toBeNull();
  });

  it('refuses the point at infinity and zero coordinates', () => {
    expect(parsePublicKey(Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]))).toBeNull();
  });
});

describe('onCurve', () => {
  const P = Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex');
  const point = () =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'der' })
      .subarray(-65);

  it('holds for points of real keys', () => {
    for (let i = 0; i < 20; i++) expect(onCurve(point())).toBe(true);
  });

  it('fails for a point with a coordinate changed, zero coordinates, or one not below p', () => {
    const raw = point();
    for (const at of [1, 32, 33, 64]) {
      const off = Buffer.from(raw);
      off[at]! ^= 1;
      expect(onCurve(off)).toBe(false);
    }
    expect(onCurve(Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]))).toBe(false);
    // x + p and y + p read as numbers are the same point mod p: still refused.
    const x = BigInt(`0x${raw.subarray(1, 33).toString('hex')}`);
    const pBig = BigInt(`0x${P.toString('hex')}`);
    if (x + pBig < 2n ** 256n) {
      const wrapped = Buffer.from(raw);
      Buffer.from((x + pBig).toString(16).padStart(64, '0'), 'hex').copy(wrapped, 1);
      expect(onCurve(wrapped)).toBe(false);
    }
    const yWrapped = Buffer.from(raw);
    P.copy(yWrapped, 33);
    expect(onCurve(yWrapped)).toBe(false);
  });

  it('legacy short keys: every honest shortening parses, random short bytes never do', () => {
    // Keys with X or Y one byte short, and with X two bytes short, as Go clients send them.
    let x1 = point();
    while (x1[1] !== 0) x1 = point();
    let y1 = point();
    while (y1[33] !== 0) y1 = point();
    const shortX = Buffer.concat([x1.subarray(0, 1), x1.subarray(2)]);
    const shortY = Buffer.concat([y1.subarray(0, 33), y1.subarray(34)]);
    for (const [short, full] of [
      [shortX, x1],
      [shortY, y1],
    ] as const) {
      const key = parsePublicKey(short);
      expect(key).not.toBeNull();
      expect(key!.export({ format: 'der', type: 'spki' }).subarray(-65)).toEqual(full);
    }
    for (const len of [33, 40, 50, 60, 63, 64]) {
      const bogus = Buffer.alloc(len, 0xa5);
      bogus[0] = 4;
      expect(parsePublicKey(bogus)).toBeNull();
    }
  });
});

describe('parsePublicKey cache', () => {
  const point = () =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'der' })
      .subarray(-65);
  const spki = (k: KeyObject | null) => k!.export({ format: 'der', type: 'spki' });

  it('keeps a key from its second sighting on, and verifies with the kept key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
    const first = parsePublicKey(raw);
    // Copies of the bytes (another buffer each time, as each handshake decodes its own).
    const second = parsePublicKey(Buffer.from(raw));
    const third = parsePublicKey(Buffer.from(raw));
    expect(first).not.toBeNull();
    // A one-off key is not kept: the second sighting parses anew, and keeps that key.
    expect(second).not.toBe(first);
    expect(spki(second)).toEqual(spki(first));
    expect(third).toBe(second);
    const sig = sign('sha256', Buffer.from('txt'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifySignature(third!, Buffer.from('txt'), sig)).toBe(true);
  });

  it('never keeps a refusal: a point off the curve stays refused, its valid neighbour is not', () => {
    const raw = point();
    const off = Buffer.from(raw);
    off[64]! ^= 1;
    for (let i = 0; i < 3; i++) expect(parsePublicKey(off)).toBeNull();
    expect(parsePublicKey(raw)).not.toBeNull();
  });

  it('keys the cache by the bytes as given: a legacy short form and its full form each parse', () => {
    // A point whose x starts with a zero byte, sent the legacy Go way (x without it).
    let raw = point();
    while (raw[1] !== 0) raw = point();
    const short = Buffer.concat([raw.subarray(0, 1), raw.subarray(2)]);
    parsePublicKey(short);
    const fromShort = parsePublicKey(short);
    const fromFull = parsePublicKey(raw);
    expect(fromShort).not.toBeNull();
    expect(spki(fromFull)).toEqual(spki(fromShort));
    expect(parsePublicKey(Buffer.from(short))).toBe(fromShort);
  });

  it(`holds at most ${KEY_CACHE_SIZE} keys, dropping the least recently used`, () => {
    const first = point();
    const second = point();
    parsePublicKey(first);
    parsePublicKey(second);
    const a = parsePublicKey(first);
    const b = parsePublicKey(second);
    // Fill the rest of the cache with keys seen twice, touching `first` so that it stays.
    for (let i = 0; i < KEY_CACHE_SIZE - 1; i++) {
      const p = point();
      parsePublicKey(p);
      parsePublicKey(p);
      if (i % 100 === 0) expect(parsePublicKey(first)).toBe(a);
    }
    expect(parsePublicKey(first)).toBe(a);
    // `second` was the least recently used: dropped, so parsed anew, a different object.
    const b2 = parsePublicKey(second);
    expect(b2).not.toBe(b);
    expect(spki(b2)).toEqual(spki(b));
  });

  it('keeps no key that was seen once, however many one-off keys come', () => {
    const kept = point();
    parsePublicKey(kept);
    const k = parsePublicKey(kept);
    // More one-off keys than the cache holds: none of them may push `kept` out.
    for (let i = 0; i < KEY_CACHE_SIZE + 10; i++) parsePublicKey(point());
    expect(parsePublicKey(kept)).toBe(k);
  });
});
