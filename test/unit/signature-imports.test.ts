/**
 * A legacy short key is imported into OpenSSL only in the readings that lie
 * on the curve: a bogus short Npchat-From or handshake key costs BigInt
 * checks (~4 µs each), not up to 31 refused imports (~35 µs each).
 */
import { describe, expect, it, vi } from 'vitest';

const imports = vi.hoisted(() => ({ n: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>();
  return {
    ...crypto,
    createPublicKey: (...args: Parameters<typeof crypto.createPublicKey>) => {
      imports.n++;
      return crypto.createPublicKey(...args);
    },
  };
});

const { generateKeyPairSync } = await import('node:crypto');
const { parsePublicKey } = await import('../../src/auth/signature.js');

describe('parsePublicKey: OpenSSL imports per key', () => {
  it('a short key with no reading on the curve is refused without an import', () => {
    for (const len of [33, 48, 63, 64]) {
      const bogus = Buffer.alloc(len, 0x5a);
      bogus[0] = 4;
      imports.n = 0;
      expect(parsePublicKey(bogus)).toBeNull();
      expect(imports.n, `${len} bytes`).toBe(0);
    }
  });

  it('an honest short key is imported once, in its reading on the curve', () => {
    let raw = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'der' })
      .subarray(-65);
    while (raw[33] !== 0) {
      raw = generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .publicKey.export({ type: 'spki', format: 'der' })
        .subarray(-65);
    }
    // Y one byte short: the reading with X whole comes last of the two.
    const short = Buffer.concat([raw.subarray(0, 33), raw.subarray(34)]);
    imports.n = 0;
    expect(parsePublicKey(short)).not.toBeNull();
    expect(imports.n).toBe(1);
  });
});
