/**
 * Client public keys and signatures in every form PROTOCOL.md §1 accepts,
 * verified with node:crypto (OpenSSL accepts both S forms).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

const P256_ALG_ID = Buffer.from('301306072a8648ce3d020106082a8648ce3d030107', 'hex');

function derLength(n: number): Buffer {
  return n < 128 ? Buffer.from([n]) : Buffer.from([0x81, n]);
}

/** SubjectPublicKeyInfo DER for a SEC1 point (compressed or uncompressed). */
function spkiOf(point: Uint8Array): Buffer {
  const bitString = Buffer.concat([
    Buffer.from([0x03]),
    derLength(point.length + 1),
    Buffer.from([0x00]),
    point,
  ]);
  const body = Buffer.concat([P256_ALG_ID, bitString]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/**
 * A KeyObject for a point, or null when it is not on the curve. An
 * uncompressed point is imported as a JWK: OpenSSL checks it lies on the
 * curve all the same, at well under half the cost of decoding SPKI DER
 * (measured: ~80 against ~190 µs; it is on every handshake's path).
 */
function tryKey(point: Uint8Array): KeyObject | null {
  try {
    if (point.length === 65) {
      const coord = (from: number) =>
        Buffer.from(point.buffer, point.byteOffset + from, 32).toString('base64url');
      return createPublicKey({
        key: { kty: 'EC', crv: 'P-256', x: coord(1), y: coord(33) },
        format: 'jwk',
      });
    }
    return createPublicKey({ key: spkiOf(point), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}

/** P-256's field prime p and curve constant b (y² = x³ - 3x + b mod p). */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function bigOf(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')}`);
}

/**
 * Whether a 65-byte uncompressed point's coordinates satisfy the curve's
 * equation: ~4 µs in BigInt arithmetic, where OpenSSL takes ~35 µs to refuse
 * an import. A legacy short key has up to 31 readings; trying each with
 * OpenSSL let one 33-byte `Npchat-From` cost ~1.1 ms of CPU, eleven times
 * an honest signed post (measured), so only readings on the curve are
 * imported (and OpenSSL checks them again).
 */
export function onCurve(point: Uint8Array): boolean {
  const x = bigOf(point.subarray(1, 33));
  const y = bigOf(point.subarray(33, 65));
  if (x >= P || y >= P) return false;
  return (y * y - (x * x * x - 3n * x + B)) % P === 0n;
}

function leftPad(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes, size - bytes.length);
  return out;
}

/**
 * Keys seen at least twice lately, by their bytes as given, least recently
 * used first: an owner who reconnects, or a sender who signs post after
 * post, skips the import (~80 µs) and OpenSSL's export of a new key to its
 * provider on first use (~20 µs), i.e. more than half of a key's first
 * verification. A key is kept only from its second sighting (the first
 * leaves just its bytes in `seenOnce`): a used key object holds ~5 KiB of
 * OpenSSL memory that is freed only when the object is collected, and
 * keeping every new key a while would let a stream of one-off keys (10,000
 * new owners, say) hold megabytes until the next full collection. At most
 * KEY_CACHE_SIZE keys (~5 MiB) and as many byte strings; refusals are never
 * kept, so a point off the curve stays refused every time.
 */
export const KEY_CACHE_SIZE = 1024;
const keyCache = new Map<string, KeyObject>();
const seenOnce = new Set<string>();

/**
 * Parses a client's P-256 public key: 65-byte uncompressed, 33-byte compressed,
 * or the legacy `0x04 || X.Bytes() || Y.Bytes()` form of Go clients that is
 * shorter than 65 bytes (every split of X and Y is tried, left-padded to 32
 * bytes each, and the reading on the curve is kept). Returns null if none is valid.
 */
export function parsePublicKey(bytes: Uint8Array): KeyObject | null {
  if (bytes.length > 65) return null;
  const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  const cached = keyCache.get(id);
  if (cached) {
    keyCache.delete(id);
    keyCache.set(id, cached);
    return cached;
  }
  const key = parseUncached(bytes);
  if (key) {
    if (seenOnce.delete(id)) {
      if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
      keyCache.set(id, key);
    } else {
      if (seenOnce.size >= KEY_CACHE_SIZE) seenOnce.delete(seenOnce.values().next().value!);
      seenOnce.add(id);
    }
  }
  return key;
}

function parseUncached(bytes: Uint8Array): KeyObject | null {
  if (bytes.length === 65 && bytes[0] === 0x04) return tryKey(bytes);
  if (bytes.length === 33 && (bytes[0] === 0x02 || bytes[0] === 0x03)) return tryKey(bytes);
  if (bytes[0] !== 0x04 || bytes.length >= 65 || bytes.length < 33) return null;
  const coords = bytes.length - 1;
  for (let xLen = Math.max(coords - 32, 1); xLen <= Math.min(32, coords - 1); xLen++) {
    const point = new Uint8Array(65);
    point[0] = 0x04;
    point.set(leftPad(bytes.subarray(1, 1 + xLen), 32), 1);
    point.set(leftPad(bytes.subarray(1 + xLen), 32), 33);
    if (!onCurve(point)) continue;
    const key = tryKey(point);
    if (key) return key;
  }
  return null;
}

/**
 * Every reading of a signature as P1363 r||s (64 bytes), or DER. Legacy Go
 * clients drop leading zero bytes of r or s (62/63 bytes): each left-padding
 * that yields 32+32 bytes is a candidate.
 */
function candidates(sig: Uint8Array): { bytes: Uint8Array; encoding: 'der' | 'ieee-p1363' }[] {
  const out: { bytes: Uint8Array; encoding: 'der' | 'ieee-p1363' }[] = [];
  if (sig.length === 64) out.push({ bytes: sig, encoding: 'ieee-p1363' });
  if (sig[0] === 0x30 && sig.length >= 8 && sig.length <= 72) {
    out.push({ bytes: sig, encoding: 'der' });
  }
  if (sig.length === 62 || sig.length === 63) {
    for (let rLen = sig.length - 32; rLen <= 32; rLen++) {
      const full = new Uint8Array(64);
      full.set(leftPad(sig.subarray(0, rLen), 32), 0);
      full.set(leftPad(sig.subarray(rLen), 32), 32);
      out.push({ bytes: full, encoding: 'ieee-p1363' });
    }
  }
  return out;
}

/** ECDSA P-256 / SHA-256 over `message`, in any accepted signature form. */
export function verifySignature(key: KeyObject, message: Uint8Array, sig: Uint8Array): boolean {
  for (const c of candidates(sig)) {
    try {
      if (verify('sha256', message, { key, dsaEncoding: c.encoding }, c.bytes)) return true;
    } catch {
      // malformed encoding for this reading: try the next one
    }
  }
  return false;
}
