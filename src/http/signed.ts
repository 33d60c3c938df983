/**
 * Signed posts (PROTOCOL.md §2.1): a sender may prove who it is with three
 * headers, and an owner may refuse strangers with a policy.
 *
 *   Npchat-From: <sender publicKey, b64url>
 *   Npchat-Time: <ms since epoch>
 *   Npchat-Signature: <b64url ECDSA P-256/SHA-256 signature over the UTF-8 of
 *     "npchat-post\n{id}\n{Npchat-Time}\n{b64url(SHA-256(body))}">
 *
 * Every rejection is a catalog error: 401 bad_signature (missing header,
 * unreadable key, or a signature that does not verify), 401 stale_signature
 * (more than SIGNATURE_WINDOW_MS from the server clock). Replays (409) are
 * the caller's to detect, with `guard`: a digest of the sender's key (as a
 * point, whatever its encoding) and the signed text rather than of the
 * signature bytes, since ECDSA signatures are malleable (s and n - s, DER
 * and P1363 all verify) and a replay could otherwise pass as new by
 * re-encoding the signature or the key.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { inboxIdOfBytes, isInboxId } from '../auth/ids.js';
import { parsePublicKey, verifySignature } from '../auth/signature.js';
import { decodeB64url } from '../client/b64url.js';
import { signedPostText } from '../client/keys.js';
import { RelayError } from '../errors.js';
import { singleHeader } from './headers.js';

export const SIGNATURE_WINDOW_MS = 300_000;

export interface VerifiedSender {
  /** Inbox id of the sender's key. */
  from: string;
  /** Replay guard key: the same post signed again (any encoding) has the same guard. */
  guard: string;
}

/** The text a sender signs for a post of `body` to `inbox` at `time`. */
export function signedText(inbox: string, time: string, body: Uint8Array): string {
  return signedPostText(inbox, time, createHash('sha256').update(body).digest('base64url'));
}

/** Verifies a signed post's headers; null when the post is not signed (no header present). */
export function verifySignedPost(
  req: IncomingMessage,
  inbox: string,
  body: Uint8Array,
  now = Date.now(),
): VerifiedSender | null {
  const fromKey = singleHeader(req, 'npchat-from', 'bad_signature');
  const time = singleHeader(req, 'npchat-time', 'bad_signature');
  const signature = singleHeader(req, 'npchat-signature', 'bad_signature');
  if (fromKey === undefined && time === undefined && signature === undefined) return null;
  if (fromKey === undefined || time === undefined || signature === undefined) {
    throw new RelayError(
      'bad_signature',
      'A signed post needs all three headers: Npchat-From, Npchat-Time and Npchat-Signature.',
    );
  }
  if (!/^\d{1,16}$/.test(time)) {
    throw new RelayError('bad_signature', 'Npchat-Time must be milliseconds since the epoch.');
  }
  if (Math.abs(now - Number(time)) > SIGNATURE_WINDOW_MS) {
    throw new RelayError('stale_signature');
  }
  const publicKey = decodeB64url(fromKey);
  const key = publicKey ? parsePublicKey(publicKey) : null;
  if (!publicKey || !key) {
    throw new RelayError('bad_signature', 'Npchat-From is not a P-256 public key in base64url.');
  }
  const text = signedText(inbox, time, body);
  const sig = decodeB64url(signature);
  if (!sig || !verifySignature(key, Buffer.from(text), sig)) {
    throw new RelayError('bad_signature');
  }
  const from = inboxIdOfBytes(publicKey);
  const guard = createHash('sha256').update(`${keyPoint(publicKey, key)}\n${text}`);
  return { from, guard: guard.digest('base64url') };
}

/**
 * The sender's key as its point's coordinates, "x.y" in base64url: the same
 * for every encoding of one key that Npchat-From accepts (65 bytes,
 * compressed, a legacy short form). The signature does not cover the
 * encoding, so a replay guard on the bytes as sent (or on `from`, their
 * hash) would let anyone replay a post with the key re-encoded.
 */
function keyPoint(bytes: Uint8Array, key: KeyObject): string {
  if (bytes.length === 65) {
    // A 65-byte key that parsed is 0x04 || X || Y.
    const point = Buffer.from(bytes.buffer, bytes.byteOffset, 65);
    return `${point.toString('base64url', 1, 33)}.${point.toString('base64url', 33, 65)}`;
  }
  const { x, y } = key.export({ format: 'jwk' });
  return `${x}.${y}`;
}

// ---- inbox policy ------------------------------------------------------------

export interface InboxPolicy {
  requireSignature: boolean;
  /** Inbox ids of the senders accepted; null: anyone (signed or not, as requireSignature says). */
  acceptFrom: string[] | null;
}

export const OPEN_POLICY: InboxPolicy = { requireSignature: false, acceptFrom: null };
export const MAX_ACCEPT_FROM = 1000;

/** Validates a policy document (PUT /{id}/policy). */
export function parsePolicy(value: unknown): InboxPolicy {
  const o = (typeof value === 'object' && value !== null ? value : null) as Record<
    string,
    unknown
  > | null;
  const accept = o?.acceptFrom;
  if (
    !o ||
    typeof o.requireSignature !== 'boolean' ||
    !(
      accept === null ||
      (Array.isArray(accept) &&
        accept.length <= MAX_ACCEPT_FROM &&
        accept.every((id) => typeof id === 'string' && isInboxId(id)))
    )
  ) {
    throw new RelayError(
      'invalid_body',
      `Send {"requireSignature":true|false,"acceptFrom":[inbox ids]|null}, at most ${MAX_ACCEPT_FROM} ids.`,
    );
  }
  return { requireSignature: o.requireSignature, acceptFrom: accept as string[] | null };
}

/** Whether the policy lets a post from `from` (a verified sender, or none) in. */
export function policyAllows(policy: InboxPolicy, from: string | undefined): boolean {
  if (policy.acceptFrom !== null) return from !== undefined && policy.acceptFrom.includes(from);
  return !policy.requireSignature || from !== undefined;
}
