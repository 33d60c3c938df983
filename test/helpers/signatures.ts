/** Signature and key forms that honest clients produce (PROTOCOL.md §1), made with @noble. */
import { p256 } from '@noble/curves/nist.js';
import { decodeB64url, encodeB64url } from '../../src/client/b64url.js';
import { generateKeys, inboxIdOf, type OwnerKeys } from '../../src/client/keys.js';

const N = p256.Point.CURVE().n;

function sign(keys: OwnerKeys, txt: string): InstanceType<typeof p256.Signature> {
  return p256.Signature.fromBytes(
    p256.sign(decodeB64url(txt)!, keys.privateKey, { extraEntropy: true }),
  );
}

export const forms = {
  p1363: (keys: OwnerKeys, txt: string) => encodeB64url(sign(keys, txt).toBytes()),
  der: (keys: OwnerKeys, txt: string) => encodeB64url(sign(keys, txt).toBytes('der')),
  highS: (keys: OwnerKeys, txt: string) => {
    const s = sign(keys, txt);
    const high = s.s > N / 2n ? s : new p256.Signature(s.r, N - s.s);
    return encodeB64url(high.toBytes());
  },
  /** r||s with the leading zero byte of r or s dropped, as Go's big.Int.Bytes() does. */
  legacyShort: (keys: OwnerKeys, txt: string) => {
    for (let i = 0; i < 20_000; i++) {
      const b = sign(keys, txt).toBytes();
      if (b[0] === 0) return encodeB64url(b.subarray(1));
      if (b[32] === 0)
        return encodeB64url(new Uint8Array([...b.subarray(0, 32), ...b.subarray(33)]));
    }
    throw new Error('no signature with a leading zero byte found');
  },
};

/** The same key, identified by its 33-byte compressed point. */
export function compressedKeys(keys: OwnerKeys): OwnerKeys {
  const publicKey = p256.getPublicKey(keys.privateKey, true);
  return { ...keys, publicKey, id: inboxIdOf(publicKey) };
}

/** A key whose X starts with a zero byte, sent as Go clients do: 64 bytes, that byte dropped. */
export function legacyShortKeys(): OwnerKeys {
  for (let i = 0; i < 100_000; i++) {
    const keys = generateKeys();
    if (keys.publicKey[1] === 0) {
      const publicKey = new Uint8Array([0x04, ...keys.publicKey.subarray(2)]);
      return { ...keys, publicKey, id: inboxIdOf(publicKey) };
    }
  }
  throw new Error('no key with a leading zero X byte found');
}
