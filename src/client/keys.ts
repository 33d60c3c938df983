/**
 * Owner keys for the client SDK: P-256 key pairs, inbox ids, the key file format
 * and challenge solutions. Pure JavaScript (@noble), so it runs in browsers too.
 *
 * Key file (JSON, written by `npchat-relay keygen`):
 *   {"kind":"npchat-relay-key","version":1,"id":"<inbox id>",
 *    "publicKey":"<b64url raw 65-byte point>","privateKey":"<b64url 32-byte scalar>"}
 */
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeB64url, encodeB64url } from './b64url.js';

export interface OwnerKeys {
  /** Raw uncompressed SEC1 public key, 65 bytes. */
  publicKey: Uint8Array;
  /** 32-byte private scalar. */
  privateKey: Uint8Array;
  /** base64url(SHA-256(publicKey)). */
  id: string;
}

export interface KeyFile {
  kind: 'npchat-relay-key';
  version: 1;
  id: string;
  publicKey: string;
  privateKey: string;
}

/** The inbox id of a public key: base64url(SHA-256(bytes exactly as given)). */
export function inboxIdOf(publicKey: Uint8Array): string {
  return encodeB64url(sha256(publicKey));
}

export function keysFromPrivate(privateKey: Uint8Array): OwnerKeys {
  const publicKey = p256.getPublicKey(privateKey, false);
  return { privateKey, publicKey, id: inboxIdOf(publicKey) };
}

export function generateKeys(): OwnerKeys {
  return keysFromPrivate(p256.utils.randomSecretKey());
}

/**
 * Reads the private scalar out of a PKCS#8 P-256 key (as WebCrypto exports it):
 * the OCTET STRING of 32 bytes that follows the ECPrivateKey version 1.
 */
export function keysFromPkcs8(pkcs8: Uint8Array): OwnerKeys {
  const marker = [0x02, 0x01, 0x01, 0x04, 0x20];
  for (let i = 0; i + marker.length + 32 <= pkcs8.length; i++) {
    if (marker.every((b, j) => pkcs8[i + j] === b)) {
      return keysFromPrivate(pkcs8.slice(i + marker.length, i + marker.length + 32));
    }
  }
  throw new Error('not a PKCS#8 P-256 private key');
}

/** Signs the raw bytes of a base64url challenge text; returns the solution (r||s, base64url). */
export function solveChallenge(keys: OwnerKeys, txt: string): string {
  const bytes = decodeB64url(txt);
  if (!bytes) throw new Error('challenge txt is not base64url');
  return encodeB64url(p256.sign(bytes, keys.privateKey, { prehash: true }));
}

export function toKeyFile(keys: OwnerKeys): KeyFile {
  return {
    kind: 'npchat-relay-key',
    version: 1,
    id: keys.id,
    publicKey: encodeB64url(keys.publicKey),
    privateKey: encodeB64url(keys.privateKey),
  };
}

/** Parses and checks a key file: the private key must produce the stated public key and id. */
export function fromKeyFile(json: unknown): OwnerKeys {
  const file = json as Partial<KeyFile> | null;
  if (!file || typeof file !== 'object' || file.kind !== 'npchat-relay-key' || file.version !== 1) {
    throw new Error('not an npchat-relay key file (expected kind "npchat-relay-key", version 1)');
  }
  const privateKey = typeof file.privateKey === 'string' ? decodeB64url(file.privateKey) : null;
  if (!privateKey || privateKey.length !== 32) {
    throw new Error('key file: privateKey must be a base64url 32-byte P-256 scalar');
  }
  let keys: OwnerKeys;
  try {
    keys = keysFromPrivate(privateKey);
  } catch {
    throw new Error('key file: privateKey is not a valid P-256 private key');
  }
  if (file.publicKey !== undefined && file.publicKey !== encodeB64url(keys.publicKey)) {
    throw new Error('key file: publicKey does not belong to privateKey');
  }
  if (file.id !== undefined && file.id !== keys.id) {
    throw new Error('key file: id does not match publicKey');
  }
  return keys;
}

/** What the sender of a signed post signs (PROTOCOL.md §2.1); the relay checks the same text. */
export function signedPostText(inboxId: string, time: string | number, bodyDigest: string): string {
  return `npchat-post\n${inboxId}\n${time}\n${bodyDigest}`;
}

/**
 * The three headers of a signed post (PROTOCOL.md §2.1): the sender proves
 * it holds `keys` by signing "npchat-post\n{id}\n{time}\n{b64url(SHA-256(body))}".
 */
export function signPost(
  keys: OwnerKeys,
  inboxId: string,
  body: Uint8Array,
  time = Date.now(),
): Record<'Npchat-From' | 'Npchat-Time' | 'Npchat-Signature', string> {
  const text = signedPostText(inboxId, time, encodeB64url(sha256(body)));
  const signature = p256.sign(new TextEncoder().encode(text), keys.privateKey, { prehash: true });
  return {
    'Npchat-From': encodeB64url(keys.publicKey),
    'Npchat-Time': String(time),
    'Npchat-Signature': encodeB64url(signature),
  };
}
