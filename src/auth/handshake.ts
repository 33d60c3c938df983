/**
 * The server's check of a handshake solution, PROTOCOL.md §3.1 step 4, in
 * order, stopping at the first failure. Every failure is a RelayError
 * `unauthorized` whose message says which check failed.
 */
import { decodeB64url } from '../client/b64url.js';
import { RelayError } from '../errors.js';
import { inboxIdOfBytes } from './ids.js';
import type { Challenge, ChallengeKeyring } from './keyring.js';
import { parsePublicKey, verifySignature } from './signature.js';

export interface Solution {
  publicKey: string;
  challenge: Challenge;
  solution: string;
}

/** Whether a parsed frame has the shape of a solution message (strings where required). */
export function isSolution(
  msg: Record<string, unknown>,
): msg is Record<string, unknown> & Solution {
  const c = msg.challenge as Record<string, unknown> | null | undefined;
  return (
    typeof msg.publicKey === 'string' &&
    typeof msg.solution === 'string' &&
    typeof c === 'object' &&
    c !== null &&
    typeof c.txt === 'string' &&
    typeof c.sig === 'string'
  );
}

export interface HandshakeContext {
  inboxId: string;
  keyring: ChallengeKeyring;
  /**
   * Step 4: on a WebSocket, was this challenge (txt and sig, exactly) issued
   * on this connection? If so, step 2 needs no ECDSA verification: the relay
   * made that very signature itself moments ago.
   */
  issuedHere: (challenge: Challenge) => boolean;
  /**
   * The owner HTTP API: a challenge may come from any request (there is no
   * connection to bind it to); the caller then marks it used, once, itself.
   */
  anyConnection?: boolean;
}

export async function verifySolution(ctx: HandshakeContext, msg: Solution): Promise<void> {
  const publicKey = decodeB64url(msg.publicKey);
  if (!publicKey || inboxIdOfBytes(publicKey) !== ctx.inboxId) {
    throw new RelayError('unauthorized', 'The public key does not belong to this inbox id.');
  }
  const issuedHere = ctx.issuedHere(msg.challenge);
  const check = issuedHere
    ? ctx.keyring.checkExpiry(msg.challenge)
    : await ctx.keyring.check(ctx.inboxId, msg.challenge);
  if (!check.ok && check.reason === 'forged') {
    throw new RelayError(
      'unauthorized',
      'The challenge was not signed by this relay for this inbox.',
    );
  }
  if (!check.ok) throw new RelayError('unauthorized', 'The challenge has expired.');
  if (!issuedHere && !ctx.anyConnection) {
    throw new RelayError('unauthorized', 'The challenge was not issued on this connection.');
  }
  const key = parsePublicKey(publicKey);
  const solution = decodeB64url(msg.solution);
  const txt = decodeB64url(msg.challenge.txt);
  if (!key || !solution || !txt || !verifySignature(key, txt, solution)) {
    throw new RelayError('unauthorized', 'The solution is not a valid signature of the challenge.');
  }
}
