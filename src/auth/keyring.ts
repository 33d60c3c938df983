/**
 * The challenge keyring (PROTOCOL.md §3.1): the relay signs challenges with a
 * P-256 key that it replaces after `freshKey` challenges. A replaced key stays
 * usable for verification until the last challenge it signed has expired, so
 * rotation never fails an honest handshake.
 *
 * With a KeyDirectory (Redis), every public key is published with an expiry
 * before a challenge it signed is handed out, so a challenge issued by one
 * relay verifies on any relay of the same Redis.
 *
 * Challenge text (base64url of 33 bytes):
 *   use (1 byte) | key id (8) | expiry, ms since epoch (8, big-endian) | random (16)
 * The first byte says what the challenge is for: 1, a WebSocket handshake;
 * 2, an owner session (POST /{id}/session). It is signed with the rest, so a
 * solution made for one cannot be spent on the other: whoever sees a
 * socket's solution (a proxy, a log) cannot open an owner session with it.
 * Signature: ECDSA P-256/SHA-256, P1363, over DOMAIN || txt bytes || inbox id.
 */
import {
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomFillSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { decodeB64url } from '../client/b64url.js';

const DOMAIN = Buffer.from('npchat-relay challenge v1\n');
const TXT_LENGTH = 33;
const NONCE_LENGTH = 16;

/** What a challenge may be used for (its first byte). */
export type ChallengeUse = 'socket' | 'session';
const USE_BYTE: Record<ChallengeUse, number> = { socket: 1, session: 2 };
const USE_BYTES: ReadonlySet<number> = new Set(Object.values(USE_BYTE));

/**
 * Challenge nonces come from a pool filled by the CSPRNG 4 KiB at a time
 * (each byte used once): one call into OpenSSL per 256 challenges instead of
 * one per challenge (~5 µs each).
 */
const noncePool = Buffer.alloc(4096);
let noncePoolAt = noncePool.length;
function nonceInto(target: Buffer, offset: number): void {
  if (noncePoolAt + NONCE_LENGTH > noncePool.length) {
    randomFillSync(noncePool);
    noncePoolAt = 0;
  }
  noncePool.copy(target, offset, noncePoolAt, noncePoolAt + NONCE_LENGTH);
  noncePoolAt += NONCE_LENGTH;
}

export interface Challenge {
  txt: string;
  sig: string;
}

interface ServerKey {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  signed: number;
  /** Latest expiry of any challenge signed with this key. */
  lastExpiry: number;
  /** Until when the directory holds the public key. */
  publishedUntil: number;
  /**
   * The publication under way, if any, and until when it holds the key: the
   * challenges asked for meanwhile wait for it rather than write again.
   */
  publishing: { until: number; done: Promise<void> } | null;
}

/** Where relays share their challenge public keys (SPKI DER), each with an expiry. */
export interface KeyDirectory {
  publish(keyId: string, spki: Buffer, untilMs: number): Promise<void>;
  lookup(keyId: string): Promise<Buffer | null>;
}

/**
 * Most keys kept at once. Past it, the current key signs beyond `freshKey`
 * until older keys expire: rotation slows down, verification never fails,
 * and memory stays bounded however fast challenges are asked.
 */
export const MAX_LIVE_KEYS = 1024;

/** Keys of other relays looked up in the directory, kept this long. */
const REMOTE_CACHE_MS = 60_000;
const REMOTE_CACHE_MAX = 10_000;

export type ChallengeCheck =
  { ok: true; expiresAt: number } | { ok: false; reason: 'forged' | 'expired' | 'other_use' };

export interface KeyringOptions {
  freshKey: number;
  challengeTtlMs: number;
  directory?: KeyDirectory;
  now?: () => number;
}

export class ChallengeKeyring {
  private readonly keys = new Map<string, ServerKey>();
  private readonly remote = new Map<string, { key: KeyObject | null; until: number }>();
  private current: ServerKey | null = null;
  private readonly now: () => number;

  constructor(private readonly options: KeyringOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Number of keys kept for verification (the current one included). */
  get size(): number {
    return this.keys.size;
  }

  async issue(inboxId: string, use: ChallengeUse = 'socket'): Promise<Challenge> {
    const now = this.now();
    this.prune(now);
    let key = this.current;
    if (!key || (key.signed >= this.options.freshKey && this.keys.size < MAX_LIVE_KEYS)) {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      key = {
        id: randomBytes(8).toString('hex'),
        ...pair,
        signed: 0,
        lastExpiry: 0,
        publishedUntil: 0,
        publishing: null,
      };
      this.keys.set(key.id, key);
      this.current = key;
    }
    const ttl = this.options.challengeTtlMs;
    const expiresAt = now + ttl;
    key.signed++;
    key.lastExpiry = expiresAt;
    if (this.options.directory && key.publishedUntil < expiresAt) {
      await this.publish(this.options.directory, key, expiresAt, ttl);
    }
    const txt = Buffer.alloc(TXT_LENGTH);
    txt[0] = USE_BYTE[use];
    txt.write(key.id, 1, 'hex');
    txt.writeBigUInt64BE(BigInt(expiresAt), 9);
    nonceInto(txt, 17);
    const sig = sign('sha256', signedBytes(txt, inboxId), {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return { txt: txt.toString('base64url'), sig: sig.toString('base64url') };
  }

  /**
   * Publishes `key` until one more lifetime past `expiresAt`, so that most
   * challenges need no write; one write at a time per key, which every
   * challenge it covers waits for (a new key's first challenges arrive
   * together). If the directory is unreachable, the challenge still works on
   * this relay (every WebSocket handshake); the next challenge tries again.
   */
  private async publish(
    directory: KeyDirectory,
    key: ServerKey,
    expiresAt: number,
    ttl: number,
  ): Promise<void> {
    const running = key.publishing;
    if (running && running.until >= expiresAt) return running.done;
    const until = expiresAt + ttl;
    const spki = key.publicKey.export({ type: 'spki', format: 'der' });
    const done = directory.publish(key.id, spki, until).then(
      () => {
        key.publishedUntil = Math.max(key.publishedUntil, until);
      },
      () => {},
    );
    const publishing = { until, done };
    key.publishing = publishing;
    await done;
    if (key.publishing === publishing) key.publishing = null;
  }

  /**
   * Steps 2 and 3 of §3.1: a signature over (txt, inbox id) by one of our
   * recent keys, or by a key another relay published in the directory; then
   * expiry. A directory that cannot be reached counts as "not our key".
   */
  async check(
    inboxId: string,
    challenge: Challenge,
    use: ChallengeUse = 'socket',
  ): Promise<ChallengeCheck> {
    const txt = decodeB64url(challenge.txt);
    const sig = decodeB64url(challenge.sig);
    if (!txt || !sig || txt.length !== TXT_LENGTH || !USE_BYTES.has(txt[0]!) || sig.length !== 64) {
      return { ok: false, reason: 'forged' };
    }
    const key = await this.publicKey(Buffer.from(txt.subarray(1, 9)).toString('hex'));
    if (
      !key ||
      !verify('sha256', signedBytes(txt, inboxId), { key, dsaEncoding: 'ieee-p1363' }, sig)
    ) {
      return { ok: false, reason: 'forged' };
    }
    return this.expiry(txt, use);
  }

  /**
   * Step 3 alone, for a challenge this relay issued on the same connection
   * (its signature is the one the relay made, so checking it again would
   * only cost an ECDSA verification).
   */
  checkExpiry(challenge: Challenge, use: ChallengeUse = 'socket'): ChallengeCheck {
    const txt = decodeB64url(challenge.txt);
    if (!txt || txt.length !== TXT_LENGTH || !USE_BYTES.has(txt[0]!)) {
      return { ok: false, reason: 'forged' };
    }
    return this.expiry(txt, use);
  }

  /** A genuine challenge's use (made for `use`?), then its expiry. */
  private expiry(txt: Uint8Array, use: ChallengeUse): ChallengeCheck {
    if (txt[0] !== USE_BYTE[use]) return { ok: false, reason: 'other_use' };
    const expiresAt = Number(Buffer.from(txt).readBigUInt64BE(9));
    if (expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, expiresAt };
  }

  private async publicKey(keyId: string): Promise<KeyObject | null> {
    const own = this.keys.get(keyId);
    if (own) return own.publicKey;
    const directory = this.options.directory;
    if (!directory) return null;
    const now = this.now();
    const cached = this.remote.get(keyId);
    if (cached && cached.until > now) return cached.key;
    let key: KeyObject | null = null;
    try {
      const spki = await directory.lookup(keyId);
      key = spki ? createPublicKey({ key: spki, format: 'der', type: 'spki' }) : null;
    } catch {
      return null;
    }
    if (this.remote.size >= REMOTE_CACHE_MAX) this.remote.clear();
    // Unknown ids are cached briefly too, so forged ids cannot make us ask Redis every time.
    this.remote.set(keyId, { key, until: now + (key ? REMOTE_CACHE_MS : 1000) });
    return key;
  }

  /**
   * Drops expired keys, oldest first. Keys are kept in creation order and a
   * newer key's challenges never expire before an older key's, so the walk
   * stops at the first live key: O(1) amortised, however many keys live.
   */
  private prune(now: number): void {
    for (const key of this.keys.values()) {
      if (key === this.current || key.lastExpiry > now) return;
      this.keys.delete(key.id);
    }
  }
}

function signedBytes(txt: Uint8Array, inboxId: string): Buffer {
  return Buffer.concat([DOMAIN, txt, Buffer.from(inboxId, 'latin1')]);
}
