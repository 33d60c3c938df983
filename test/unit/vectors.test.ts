/** Every handshake vector, on the server (node:crypto) and on the client SDK (@noble). */
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { inboxIdOfBytes, isInboxId } from '../../src/auth/ids.js';
import { parsePublicKey, verifySignature } from '../../src/auth/signature.js';
import { decodeB64url, encodeB64url } from '../../src/client/b64url.js';
import { inboxIdOf, keysFromPkcs8, solveChallenge } from '../../src/client/keys.js';
import { vectors } from '../helpers/vectors.js';

const bytes = (s: string) => decodeB64url(s) ?? new Uint8Array(0);
const txt = bytes(vectors.challengeTxt);

describe('handshake vectors: server', () => {
  const key = parsePublicKey(bytes(vectors.client.publicKey));

  it('parses the client key and derives its id', () => {
    expect(key).not.toBeNull();
    expect(inboxIdOfBytes(bytes(vectors.client.publicKey))).toBe(vectors.client.id);
    expect(inboxIdOfBytes(bytes(vectors.otherKey.publicKey))).toBe(vectors.otherKey.id);
  });

  for (const v of vectors.solutions) {
    it(`solution "${v.name}" is ${v.valid ? 'accepted' : 'rejected'}`, () => {
      const sig = decodeB64url(v.solution);
      const ok = sig !== null && key !== null && verifySignature(key, txt, sig);
      expect(ok).toBe(v.valid);
    });
  }

  for (const c of vectors.idCases) {
    it(`id case "${c.name}" ${c.matches ? 'matches' : 'does not match'}`, () => {
      expect(isInboxId(c.id)).toBe(true);
      expect(inboxIdOfBytes(bytes(c.publicKey)) === c.id).toBe(c.matches);
    });
  }

  for (const id of vectors.invalidIds) {
    it(`invalid id ${JSON.stringify(id)} is rejected`, () => {
      expect(isInboxId(id)).toBe(false);
    });
  }

  for (const k of vectors.legacyKeys) {
    it(`legacy key "${k.name}"`, () => {
      const raw = bytes(k.publicKey);
      expect(raw.length).toBeLessThan(65);
      expect(inboxIdOfBytes(raw)).toBe(k.id);
      const legacy = parsePublicKey(raw);
      expect(legacy).not.toBeNull();
      expect(verifySignature(legacy!, txt, bytes(k.solution))).toBe(k.valid);
    });
  }

  it('the legacy key reading is the one on the curve, not just any padding', () => {
    const k = vectors.legacyKeys[0]!;
    const legacy = parsePublicKey(bytes(k.publicKey))!;
    // The valid solution was made by exactly that key: the client's key does not verify it.
    expect(verifySignature(key!, txt, bytes(k.solution))).toBe(false);
    expect(verifySignature(legacy, txt, bytes(k.solution))).toBe(true);
  });
});

describe('handshake vectors: client SDK', () => {
  it('derives the id of every vector key', () => {
    expect(inboxIdOf(bytes(vectors.client.publicKey))).toBe(vectors.client.id);
    expect(inboxIdOf(bytes(vectors.otherKey.publicKey))).toBe(vectors.otherKey.id);
    for (const k of vectors.legacyKeys) expect(inboxIdOf(bytes(k.publicKey))).toBe(k.id);
  });

  it('loads the PKCS#8 private key to the vector public key and id', () => {
    const keys = keysFromPkcs8(bytes(vectors.client.privateKeyPkcs8));
    expect(encodeB64url(keys.publicKey)).toBe(vectors.client.publicKey);
    expect(keys.id).toBe(vectors.client.id);
  });

  it('makes solutions that the server accepts, and that match the P1363 vector form', () => {
    const keys = keysFromPkcs8(bytes(vectors.client.privateKeyPkcs8));
    const solution = bytes(solveChallenge(keys, vectors.challengeTxt));
    expect(solution.length).toBe(64);
    expect(verifySignature(parsePublicKey(keys.publicKey)!, txt, solution)).toBe(true);
  });

  it('agrees with the server on every 64-byte r||s vector (noble cross-check, both S forms)', () => {
    const pub = bytes(vectors.client.publicKey);
    for (const v of vectors.solutions) {
      const sig = decodeB64url(v.solution);
      if (!sig || sig.length !== 64) continue;
      expect(p256.verify(sig, txt, pub, { lowS: false }), v.name).toBe(v.valid);
    }
  });
});
