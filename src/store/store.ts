/**
 * The message store: one ordered queue per inbox, every message with its own
 * expiry. Implementations (memory, and later Redis) pass the same contract
 * suite in test/contract/.
 *
 * Contract:
 * - `append` gives the message an id that is unique and increases with every
 *   append to the same store (ids compare as `compareIds` says); when it
 *   resolves, the message is stored. It rejects with RelayError `unavailable`
 *   when the store cannot take it: then nothing was stored.
 * - `lease(inbox, max, leaseMs)` returns up to `max` messages, oldest first,
 *   that are neither expired nor leased by anyone, and leases them for
 *   `leaseMs`: until the lease ends, is released or the message is removed, no
 *   other `lease` returns them. A lease that ends by time makes its messages
 *   available again (so a holder that died loses nothing).
 * - `remove` deletes messages by id (delivered, or acknowledged); unknown ids
 *   are ignored. `release` ends leases early, keeping the messages.
 * - An expired message is never returned, and is eventually deleted.
 * - Idempotency (PROTOCOL.md §2): `append` with a key that was used for this
 *   inbox within the TTL of the message it named stores nothing and returns
 *   that first answer with `duplicate: true`; check and append are one atomic
 *   step. `remember` records a key for a message that was delivered live (not
 *   stored) and `recall` reads a key's first answer.
 */
export interface NewMessage {
  body: Uint8Array;
  binary: boolean;
  /** Lifetime in ms from `t`. */
  ttlMs: number;
  /** Arrival time, ms since epoch. */
  t: number;
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
}

export interface Store {
  /** `memory` or `redis`, as /info reports it. */
  readonly kind: string;
  append(inbox: string, msg: NewMessage, idempotencyKey?: string): Promise<Appended>;
  recall(inbox: string, idempotencyKey: string): Promise<Answer | null>;
  remember(inbox: string, idempotencyKey: string, answer: Answer, ttlMs: number): Promise<void>;
  lease(inbox: string, max: number, leaseMs: number): Promise<StoredMessage[]>;
  remove(inbox: string, ids: readonly string[]): Promise<number>;
  release(inbox: string, ids: readonly string[]): Promise<void>;
  /** Resolves when the store answers; rejects otherwise (for /ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Message ids are decimal strings of increasing integers: compare by length, then text. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
