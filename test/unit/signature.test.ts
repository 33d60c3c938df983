import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../src/auth/signature.js';

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
