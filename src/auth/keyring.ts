/**
 * The challenge keyring (PROTOCOL.md §3.1): the relay signs challenges with a
 * P-256 key that it replaces after `freshKey` challenges. A replaced key stays
 * usable for verification until the last challenge it signed has expired, so
 * rotation never fails an honest handshake.
 *
 * Challenge text (base64url of 33 bytes):
 *   version (1 byte = 1) | key id (8) | expiry, ms since epoch (8, big-endian) | random (16)
 * Signature: ECDSA P-256/SHA-256, P1363, over DOMAIN || txt bytes || inbox id.
 */
import { generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { decodeB64url } from '../client/b64url.js';

const DOMAIN = Buffer.from('npchat-relay challenge v1\n');
const TXT_LENGTH = 33;

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
}

export type ChallengeCheck =
  { ok: true; expiresAt: number } | { ok: false; reason: 'forged' | 'expired' };

export interface KeyringOptions {
  freshKey: number;
  challengeTtlMs: number;
  now?: () => number;
}

export class ChallengeKeyring {
  private readonly keys = new Map<string, ServerKey>();
  private current: ServerKey | null = null;
  private readonly now: () => number;

  constructor(private readonly options: KeyringOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Number of keys kept for verification (the current one included). */
  get size(): number {
    return this.keys.size;
  }

  issue(inboxId: string): Challenge {
    const now = this.now();
    this.prune(now);
    let key = this.current;
    if (!key || key.signed >= this.options.freshKey) {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      key = { id: randomBytes(8).toString('hex'), ...pair, signed: 0, lastExpiry: 0 };
      this.keys.set(key.id, key);
      this.current = key;
    }
    const expiresAt = now + this.options.challengeTtlMs;
    key.signed++;
    key.lastExpiry = expiresAt;
    const txt = Buffer.alloc(TXT_LENGTH);
    txt[0] = 1;
    txt.write(key.id, 1, 'hex');
    txt.writeBigUInt64BE(BigInt(expiresAt), 9);
    randomBytes(16).copy(txt, 17);
    const sig = sign('sha256', signedBytes(txt, inboxId), {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return { txt: txt.toString('base64url'), sig: sig.toString('base64url') };
  }

  /** Steps 2 and 3 of §3.1: our own signature over (txt, inbox id), then expiry. */
  check(inboxId: string, challenge: Challenge): ChallengeCheck {
    const txt = decodeB64url(challenge.txt);
    const sig = decodeB64url(challenge.sig);
    if (!txt || !sig || txt.length !== TXT_LENGTH || txt[0] !== 1 || sig.length !== 64) {
      return { ok: false, reason: 'forged' };
    }
    const key = this.keys.get(Buffer.from(txt.subarray(1, 9)).toString('hex'));
    if (
      !key ||
      !verify(
        'sha256',
        signedBytes(txt, inboxId),
        {
          key: key.publicKey,
          dsaEncoding: 'ieee-p1363',
        },
        sig,
      )
    ) {
      return { ok: false, reason: 'forged' };
    }
    const expiresAt = Number(Buffer.from(txt).readBigUInt64BE(9));
    if (expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, expiresAt };
  }

  private prune(now: number): void {
    for (const key of this.keys.values()) {
      if (key !== this.current && key.lastExpiry <= now) this.keys.delete(key.id);
    }
  }
}

function signedBytes(txt: Uint8Array, inboxId: string): Buffer {
  return Buffer.concat([DOMAIN, txt, Buffer.from(inboxId, 'latin1')]);
}
