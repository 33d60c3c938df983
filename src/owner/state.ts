/**
 * Owner state (PROTOCOL.md §4): session tokens, single-use marks (login
 * challenges, signed-post replay guard), prekey bundles, and small blobs
 * (contact card, private data, inbox policy). Kept apart from the message
 * Store: it has other lifetimes (tokens expire with the session; prekeys,
 * cards, data and policy do not expire with the queue) and other bounds.
 *
 * Each interface has a memory engine (memory.ts) and a Redis engine
 * (redis.ts); the contract suites in test/contract pin both to the same
 * behaviour. On Redis every operation is one atomic step, so several relays
 * of one Redis agree: a token made on A works on B, a challenge or a signed
 * post is used once across all of them, and a one-time prekey is handed out
 * at most once.
 */
import { RelayError } from '../errors.js';

export interface Tokens {
  /** Keeps a session token (by its hash) for the inbox for `ttlMs`. */
  save(hash: string, inbox: string, ttlMs: number): Promise<void>;
  /** The inbox a token hash was made for; null when unknown, revoked or expired. */
  inboxOf(hash: string): Promise<string | null>;
  revoke(hash: string): Promise<void>;
}

export interface OnceGuard {
  /**
   * True the first time `key` is marked within `ttlMs` (in the inbox's
   * scope), false every later time: atomic, so of two concurrent calls
   * exactly one gets true.
   */
  first(inbox: string, key: string, ttlMs: number): Promise<boolean>;
  /** Removes a mark (the guarded step failed, so a retry is not a replay). */
  forget(inbox: string, key: string): Promise<void>;
}

export interface PreKey {
  keyId: number;
  publicKey: string;
}

export interface SignedPreKey extends PreKey {
  signature: string;
}

export interface Bundle {
  identityKey: string;
  signedPreKey: SignedPreKey;
}

/** What `GET /{id}/keys` hands out: the bundle and at most one one-time prekey. */
export interface HandedBundle extends Bundle {
  preKey: PreKey | null;
}

export interface Prekeys {
  /** Replaces the inbox's bundle and its one-time prekeys. */
  put(inbox: string, bundle: Bundle, preKeys: readonly PreKey[]): Promise<void>;
  /**
   * Adds one-time prekeys; refuses (`too_many_prekeys`) when the inbox would
   * hold more than `max`, and (`not_found`) when it has no bundle yet, adding
   * none. Resolves with how many it holds now.
   */
  add(inbox: string, preKeys: readonly PreKey[], max: number): Promise<number>;
  /** The bundle with one one-time prekey, removed in the same atomic step; null: no bundle. */
  take(inbox: string): Promise<HandedBundle | null>;
  /** One-time prekeys left. */
  count(inbox: string): Promise<number>;
}

export type BlobName = 'shareable' | 'data' | 'policy';

export interface Blobs {
  put(inbox: string, name: BlobName, value: string): Promise<void>;
  get(inbox: string, name: BlobName): Promise<string | null>;
}

export interface OwnerState {
  tokens: Tokens;
  once: OnceGuard;
  prekeys: Prekeys;
  blobs: Blobs;
  close(): Promise<void>;
}

export function noBundle(): RelayError {
  return new RelayError('not_found', 'This inbox has no key bundle: PUT /{id}/keys first.');
}

export function tooManyPrekeys(max: number): RelayError {
  return new RelayError(
    'too_many_prekeys',
    `An inbox holds at most ${max} one-time prekeys; fetch some or replace the bundle.`,
  );
}
