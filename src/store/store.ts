import { RelayError } from '../errors.js';

/**
 * The message store: one ordered queue per inbox, every message with its own
 * expiry. Implementations (memory, Redis) pass the same contract suite in
 * test/contract/.
 *
 * Contract:
 * - Ids: `reserve` and `append` without an id take the next id of the inbox;
 *   ids are unique and increase per inbox (compare with `compareIds`),
 *   whichever path a message then takes (live or stored), so an id never
 *   names two messages and never tells a sender which path was taken.
 * - `append` stores a message (with the id `reserve` gave it, or a new one);
 *   when it resolves, the message is stored. It checks the inbox's quota in
 *   the same atomic step: `inbox_full` (507) when the inbox holds
 *   `maxMessages` messages or the body would take it over `maxBytes`;
 *   `unavailable` (503, with Retry-After) when the store cannot take it (Redis
 *   down or full, the memory store at its bound). Then nothing was stored.
 * - `lease(inbox, max, leaseMs)` returns up to `max` messages, oldest first,
 *   that are neither expired nor leased by anyone, and leases them for
 *   `leaseMs`: until the lease ends, is released or the message is removed, no
 *   other `lease` returns them. A lease that ends by time makes its messages
 *   available again (so a holder that died loses nothing). Leasing, removing
 *   and releasing keep working on a store that is full. A lease looks at no
 *   more than LEASE_SCAN messages from the head of the queue.
 * - `remove` deletes messages by id (delivered, or acknowledged); unknown ids
 *   are ignored. `release` ends leases early, keeping the messages.
 * - An expired message is never returned, and is eventually deleted.
 * - Idempotency (PROTOCOL.md §2), one atomic step per call:
 *   `reserve(inbox, key)` returns the first answer of a key already
 *   used for this inbox (`prior`), throws `unavailable` while another request
 *   with the key is still being handled, or else takes a new id and marks the
 *   key pending for it (for at most PENDING_MS). The request then ends the
 *   reservation: `append` with the key (stored), `commit` (delivered live), or
 *   `forget` (failed: a retry may try again). `append` with a key used before
 *   stores nothing and returns that first answer with `duplicate: true`.
 */

/**
 * The most messages one lease looks at from the head of a queue, leased to
 * other consumers or not. It bounds the work of a lease, which on Redis is a
 * script that every relay's commands wait behind: without it, an owner with
 * 10,000 messages leased to consumers it holds open made each further lease
 * (one per long-poll, say) go through all of them. With more than this many
 * of one inbox's messages leased at once, the ones after wait until those
 * are acknowledged, released, or their leases end.
 */
export const LEASE_SCAN = 2048;

export interface NewMessage {
  /** The id `reserve` gave; absent: `append` takes a new one. */
  id?: string;
  body: Uint8Array;
  binary: boolean;
  /** Lifetime in ms from `t`. */
  ttlMs: number;
  /** Arrival time, ms since epoch. */
  t: number;
  /** Inbox id of the sender of a verified signed post (PROTOCOL.md §2.1). */
  from?: string;
}

export interface StoredMessage extends NewMessage {
  id: string;
  expiresAt: number;
}

/** The answer a POST gave: what an idempotent retry gets again. */
export interface Answer {
  id: string;
  t: number;
}

export interface Appended extends Answer {
  expiresAt: number;
  /** True when the idempotency key was already used: nothing was stored. */
  duplicate: boolean;
  /** See `Reservation.present`: read in the same atomic step as the append. */
  present?: readonly string[];
}

export type Reservation =
  | {
      id: string;
      prior?: undefined;
      /**
       * A store that shares its database with the hub (Redis) reads the
       * inbox's presence (the relay nodes with a socket of it) in the same
       * atomic step, saving the hub a round trip; absent: the hub reads it.
       */
      present?: readonly string[];
      /**
       * Likewise the owner's inbox policy (JSON, null: none), read in the same
       * step by a store sharing its database with the owner state; absent:
       * the caller reads it.
       */
      policy?: string | null;
    }
  | { id?: undefined; prior: Answer; present?: undefined; policy?: undefined };

/** reserveOrStore()'s answer: the message was stored, or a reservation as reserve() gives it. */
export type StoredOrReserved =
  | { stored: Appended; id?: undefined; prior?: undefined; present?: undefined; policy?: undefined }
  | (Reservation & { stored?: undefined });

/** Per-inbox quotas (NPCHAT_INBOX_MAX_MESSAGES, NPCHAT_INBOX_MAX_BYTES). */
export interface InboxQuota {
  maxMessages: number;
  maxBytes: number;
}

export const UNLIMITED: InboxQuota = { maxMessages: 2 ** 31, maxBytes: 2 ** 52 };

/** How long a reservation stays pending before a retry may try again. */
export const PENDING_MS = 10_000;

export interface Store {
  /** `memory` or `redis`, as /info reports it. */
  readonly kind: string;
  /**
   * Stored bodies stay in this process's memory, each on memory of its own:
   * a POST whose body is likely to be stored reads it that way (one copy,
   * not a copy into a shared slab and another at the store).
   */
  readonly holdsBodies: boolean;
  reserve(inbox: string, idempotencyKey?: string): Promise<Reservation>;
  append(inbox: string, msg: NewMessage, idempotencyKey?: string): Promise<Appended>;
  /**
   * reserve() and append() in one atomic step when nothing can take the
   * message live and nothing needs to judge it: the caller has no socket of
   * the inbox, the store sees none on any other relay (Redis: the presence
   * hash, read in the same step) and the inbox has no policy. Then the
   * message is stored under a new id (`stored`; refused with inbox_full like
   * append()); otherwise this is reserve() and the caller goes on as after
   * it. For unsigned posts (a signed one is checked for replay first). One
   * round trip instead of two for a POST to an offline inbox.
   */
  reserveOrStore(
    inbox: string,
    msg: Omit<NewMessage, 'id' | 'from'>,
    idempotencyKey?: string,
  ): Promise<StoredOrReserved>;
  commit(inbox: string, idempotencyKey: string, answer: Answer, ttlMs: number): Promise<void>;
  forget(inbox: string, idempotencyKey: string, id: string): Promise<void>;
  lease(inbox: string, max: number, leaseMs: number): Promise<StoredMessage[]>;
  remove(inbox: string, ids: readonly string[]): Promise<number>;
  release(inbox: string, ids: readonly string[]): Promise<void>;
  /** Messages stored now, all inboxes (for metrics; Redis: may be a cached estimate). */
  count(): Promise<number>;
  /** Resolves when the store answers; rejects otherwise (for /ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The answer while another request with the same Idempotency-Key is being handled. */
export function inProgress(): RelayError {
  return new RelayError(
    'unavailable',
    'A request with this Idempotency-Key is still being handled; retry shortly.',
  );
}

export function inboxFull(): RelayError {
  return new RelayError('inbox_full');
}

/** Message ids are decimal strings of increasing integers: compare by length, then text. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
