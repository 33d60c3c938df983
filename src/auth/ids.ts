import { createHash } from 'node:crypto';

/**
 * An inbox id is base64url(SHA-256(publicKey)) without padding: exactly 43
 * characters of the alphabet, the last one carrying 4 data bits and 2 zero bits
 * (so every 32-byte value has exactly one spelling).
 */
const ID_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export function isInboxId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/** base64url(SHA-256(bytes)), computed with node:crypto for the server's hot path. */
export function inboxIdOfBytes(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('base64url');
}
