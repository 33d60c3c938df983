/**
 * The server's check of a handshake solution, PROTOCOL.md §3.1 step 4, in
 * order, stopping at the first failure. Every failure is a RelayError
 * `unauthorized` whose message says which check failed.
 */
import { decodeB64url } from '../client/b64url.js';
import { RelayError } from '../errors.js';
import { inboxIdOfBytes } from './ids.js';
import type { Challenge, ChallengeKeyring, ChallengeUse } from './keyring.js';
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
  issuedHere?: (challenge: Challenge) => boolean;
  /**
   * What the solution is for: a WebSocket handshake (a challenge issued on
   * that connection), or an owner session over HTTP (a session challenge
   * from any request: there is no connection to bind it to; the caller then
   * marks it used, once, itself). A challenge made for one is refused for
   * the other.
   */
  use: ChallengeUse;
}

/** Checks a solution; resolves with when its challenge expires (ms since the epoch). */
export async function verifySolution(ctx: HandshakeContext, msg: Solution): Promise<number> {
  const publicKey = decodeB64url(msg.publicKey);
  if (!publicKey || inboxIdOfBytes(publicKey) !== ctx.inboxId) {
    throw new RelayError('unauthorized', 'The public key does not belong to this inbox id.');
  }
  const issuedHere = ctx.use === 'socket' && (ctx.issuedHere?.(msg.challenge) ?? false);
  const check = issuedHere
    ? ctx.keyring.checkExpiry(msg.challenge, ctx.use)
    : await ctx.keyring.check(ctx.inboxId, msg.challenge, ctx.use);
  if (!check.ok && check.reason === 'forged') {
    throw new RelayError(
      'unauthorized',
      'The challenge was not signed by this relay for this inbox.',
    );
  }
  if (!check.ok && check.reason === 'other_use') {
    throw new RelayError(
      'unauthorized',
      ctx.use === 'session'
        ? 'The challenge was issued for a WebSocket handshake; log in with one from GET /{id}/challenge.'
        : 'The challenge was issued for an owner session; a socket needs one asked for on it.',
    );
  }
  if (!check.ok) throw new RelayError('unauthorized', 'The challenge has expired.');
  if (!issuedHere && ctx.use === 'socket') {
    throw new RelayError('unauthorized', 'The challenge was not issued on this connection.');
  }
  const key = parsePublicKey(publicKey);
  const solution = decodeB64url(msg.solution);
  const txt = decodeB64url(msg.challenge.txt);
  if (!key || !solution || !txt || !verifySignature(key, txt, solution)) {
    throw new RelayError('unauthorized', 'The solution is not a valid signature of the challenge.');
  }
  return check.expiresAt;
}
