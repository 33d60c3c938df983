/**
 * The embedded store: per-inbox queues in this process's memory, expired
 * messages swept every `cleanPeriodMs`. Nothing survives a crash; the
 * persist file (store/persist.ts) keeps the queue across a graceful restart.
 *
 * Memory bound: every entry is charged its body plus a fixed overhead
 * (ENTRY_OVERHEAD for a message, KEY_OVERHEAD plus the key for an
 * idempotency key), and the total never passes `maxBytes`: an append or a
 * reservation that would pass it is refused with 503 and a Retry-After of one
 * sweep period, while leasing, removing and releasing keep working.
 *
 * A stored body owns exactly its bytes (see ownBytes): the bound counts
 * bodies, so a body must not keep a larger buffer alive.
 */
import { ownsItsMemory } from '../buffers.js';
import { RelayError } from '../errors.js';
import { runToEnd, SlicedPass, SWEEP_UNITS } from '../sliced.js';
import { MessageIds } from './message-ids.js';
import {
  compareIds,
  inboxFull,
  inProgress,
  LEASE_SCAN,
  PENDING_MS,
  UNLIMITED,
  type Answer,
  type Appended,
  type InboxQuota,
  type NewMessage,
  type Reservation,
  type Store,
  type StoredOrReserved,
  type StoredMessage,
} from './store.js';

/** Bytes charged per stored message beyond its body (objects, map entry, id). */
export const ENTRY_OVERHEAD = 400;
/** Bytes charged per idempotency key beyond the key itself. */
export const KEY_OVERHEAD = 200;

/**
 * `body`, on memory of its own. A request body under 4 KiB is a slice of
 * one of Node's shared 8 KiB allocation slabs, and a stored slice keeps its
 * whole slab alive: a sender alternating tiny messages that stay with ones
 * that go could hold ~8 KiB per message charged ~0.4 KiB, past the store's
 * bound. Copying costs ~2 µs per stored message; a POST to an inbox with no
 * socket here reads its body onto memory of its own (readBody's `own`), so
 * only messages that were offered live first are copied.
 */
export function ownBytes(body: Uint8Array): Uint8Array {
  if (ownsItsMemory(body)) return body;
  const own = Buffer.allocUnsafeSlow(body.byteLength);
  own.set(body);
  return own;
}

interface Entry {
  msg: StoredMessage;
  leasedUntil: number;
  /** Stored after a message with a later id: also in the queue's `late` list. */
  late: boolean;
}

interface Queue {
  /**
   * message id -> entry, in the order stored: the entries that are not
   * `late` are in id order (each id above every id stored before it).
   */
  entries: Map<string, Entry>;
  /**
   * The late entries (a reserved id stored after a later one: a live
   * attempt that timed out), in id order; null when there are none. Kept
   * apart so that a late entry costs O(log n) plus a short move, not a
   * re-sort of the queue: that was ~4.5 ms at 9,000 entries, and anyone
   * owning an inbox with a socket that does not read could cause one per POST.
   */
  late: Entry[] | null;
  /** Sum of the bodies, for the inbox quota. */
  bytes: number;
  /** The highest id stored. */
  lastId: string;
  /**
   * No entry expires before this (a lower bound: it may lag behind after
   * removals). Expired entries are looked for only when it has passed, so an
   * append costs O(1) however long the queue is.
   */
  soonest: number;
}

/** Where `id` is, or would go, in a list of entries in id order. */
function position(list: readonly Entry[], id: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds(list[mid]!.msg.id, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A queue's entries in id order: the in-order ones merged with the late ones. */
function* merged(queue: Queue, late: readonly Entry[]): Generator<Entry, void, undefined> {
  let i = 0;
  for (const entry of queue.entries.values()) {
    if (entry.late) continue;
    while (i < late.length && compareIds(late[i]!.msg.id, entry.msg.id) < 0) yield late[i++]!;
    yield entry;
  }
  while (i < late.length) yield late[i++]!;
}

/** A queue's entries in id order (do not add or drop entries while going through them). */
function inOrder(queue: Queue): Iterable<Entry> {
  return queue.late ? merged(queue, queue.late) : queue.entries.values();
}

interface KeyState extends Answer {
  pending: boolean;
  expiresAt: number;
}

/** Everything the memory store holds, for the persist file (leases are not kept). */
export interface MemorySnapshot {
  messages: (StoredMessage & { inbox: string })[];
  keys: (Answer & { inbox: string; key: string; expiresAt: number })[];
}

export interface MemoryStoreOptions {
  cleanPeriodMs: number;
  ids?: MessageIds;
  quota?: InboxQuota;
  /** Bound of the whole store in bytes (NPCHAT_STORE_MAX_BYTES). */
  maxBytes?: number;
  /** Told how many messages expired unread each time some are dropped. */
  onExpired?: (n: number) => void;
  /** Told if a step of the periodic sweep throws (that sweep ends; the next runs as planned). */
  onSweepError?: (err: unknown) => void;
  now?: () => number;
  /**
   * The owner's inbox policy (null: none), read synchronously: a reservation
   * then carries it, as the Redis store's does, and a POST needs no separate
   * lookup. Absent: reservations leave it to the caller.
   */
  policyOf?: (inbox: string) => string | null;
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly holdsBodies = true;
  private readonly inboxes = new Map<string, Queue>();
  /** inbox -> (idempotency key -> answer or reservation, with its expiry). */
  private readonly keys = new Map<string, Map<string, KeyState>>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private readonly sweeping: SlicedPass;
  private readonly ids: MessageIds;
  private readonly quota: InboxQuota;
  private readonly maxBytes: number;
  private readonly retryAfter: string;
  private readonly onExpired: (n: number) => void;
  private readonly policyOf: ((inbox: string) => string | null) | undefined;
  /** Bytes charged for everything held now. */
  bytes = 0;
  /** Messages held now (all inboxes). */
  size = 0;

  constructor(options: MemoryStoreOptions) {
    this.now = options.now ?? Date.now;
    this.ids = options.ids ?? new MessageIds();
    this.quota = options.quota ?? UNLIMITED;
    this.maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
    this.onExpired = options.onExpired ?? (() => {});
    this.policyOf = options.policyOf;
    this.retryAfter = String(Math.max(1, Math.ceil(options.cleanPeriodMs / 1000)));
    this.sweeping = new SlicedPass(
      () => this.sweepSteps(),
      SWEEP_UNITS,
      options.onSweepError ?? (() => {}),
    );
    this.timer = setInterval(() => this.sweeping.start(), options.cleanPeriodMs);
    this.timer.unref();
  }

  private charge(bytes: number, force = false): void {
    if (!force && this.bytes + bytes > this.maxBytes) {
      throw new RelayError(
        'unavailable',
        'The relay holds as many messages as it can; retry after some have been delivered or expired.',
        { 'Retry-After': this.retryAfter },
      );
    }
    this.bytes += bytes;
  }

  async reserve(inbox: string, idempotencyKey?: string): Promise<Reservation> {
    if (idempotencyKey !== undefined) {
      const known = this.known(inbox, idempotencyKey);
      if (known?.pending) throw inProgress();
      if (known) return { prior: { id: known.id, t: known.t } };
    }
    const id = this.ids.next();
    if (idempotencyKey !== undefined) {
      this.note(inbox, idempotencyKey, { id, t: 0, pending: true }, this.now() + PENDING_MS);
    }
    return this.policyOf ? { id, policy: this.policyOf(inbox) } : { id };
  }

  async reserveOrStore(
    inbox: string,
    msg: Omit<NewMessage, 'id' | 'from'>,
    idempotencyKey?: string,
  ): Promise<StoredOrReserved> {
    // One relay: the caller's own check for sockets is the whole presence check.
    const policy = this.policyOf?.(inbox);
    if (policy !== null) return this.reserve(inbox, idempotencyKey);
    if (idempotencyKey !== undefined) {
      const known = this.known(inbox, idempotencyKey);
      if (known?.pending) throw inProgress();
      if (known) return { prior: { id: known.id, t: known.t } };
    }
    return { stored: await this.append(inbox, msg, idempotencyKey) };
  }

  async append(inbox: string, msg: NewMessage, idempotencyKey?: string): Promise<Appended> {
    // Synchronous from check to insert: atomic in this single-threaded store.
    const known = idempotencyKey === undefined ? null : this.known(inbox, idempotencyKey);
    if (known && !(known.pending && known.id === msg.id)) {
      if (known.pending) throw inProgress();
      return { id: known.id, t: known.t, expiresAt: known.expiresAt, duplicate: true };
    }
    let queue = this.inboxes.get(inbox);
    const size = msg.body.length;
    if (queue) {
      // Expired messages still count until a sweep; drop them first only when
      // they would decide a refusal (and only if any can have expired).
      if (this.full(queue, size)) {
        this.dropExpired(inbox, queue, this.now());
        if (this.full(queue, size)) throw inboxFull();
        queue = this.inboxes.get(inbox); // gone if every message had expired
      }
    } else if (size > this.quota.maxBytes) {
      throw inboxFull();
    }
    this.charge(size + ENTRY_OVERHEAD);
    const id = msg.id ?? this.ids.next();
    const { binary, t, ttlMs, from } = msg;
    const body = ownBytes(msg.body);
    const stored: StoredMessage = { id, body, binary, t, ttlMs, expiresAt: t + ttlMs };
    if (from !== undefined) stored.from = from;
    this.insert(inbox, stored, queue);
    if (idempotencyKey !== undefined) {
      this.note(inbox, idempotencyKey, { id, t: stored.t, pending: false }, stored.expiresAt);
    }
    return { id, t: stored.t, expiresAt: stored.expiresAt, duplicate: false };
  }

  private full(queue: Queue, size: number): boolean {
    return queue.entries.size >= this.quota.maxMessages || queue.bytes + size > this.quota.maxBytes;
  }

  /**
   * Adds a message in id order (a reserved id may arrive after a later one).
   * `queue` is the inbox's queue as just looked up (undefined: look it up).
   */
  private insert(inbox: string, stored: StoredMessage, queue = this.inboxes.get(inbox)): void {
    // An id is stored once (a persist file could name it twice): the later
    // copy wins. An id above the highest stored cannot be there (new ids are).
    if (queue && compareIds(stored.id, queue.lastId) <= 0 && queue.entries.has(stored.id)) {
      this.drop(inbox, queue, stored.id);
      queue = this.inboxes.get(inbox);
    }
    if (!queue) {
      queue = {
        entries: new Map(),
        late: null,
        bytes: 0,
        lastId: stored.id,
        soonest: stored.expiresAt,
      };
      this.inboxes.set(inbox, queue);
    }
    if (stored.expiresAt < queue.soonest) queue.soonest = stored.expiresAt;
    const late = compareIds(stored.id, queue.lastId) < 0;
    const entry: Entry = { msg: stored, leasedUntil: 0, late };
    queue.entries.set(stored.id, entry);
    queue.bytes += stored.body.length;
    this.size++;
    if (!late) {
      queue.lastId = stored.id;
    } else {
      const list = (queue.late ??= []);
      list.splice(position(list, stored.id), 0, entry);
    }
  }

  async commit(
    inbox: string,
    idempotencyKey: string,
    answer: Answer,
    ttlMs: number,
  ): Promise<void> {
    this.note(inbox, idempotencyKey, { ...answer, pending: false }, this.now() + ttlMs);
  }

  async forget(inbox: string, idempotencyKey: string, id: string): Promise<void> {
    const known = this.keys.get(inbox)?.get(idempotencyKey);
    if (known?.pending && known.id === id) this.unnote(inbox, idempotencyKey);
  }

  private known(inbox: string, key: string): KeyState | null {
    const known = this.keys.get(inbox)?.get(key);
    return known && known.expiresAt > this.now() ? known : null;
  }

  private note(
    inbox: string,
    key: string,
    state: Omit<KeyState, 'expiresAt'>,
    expiresAt: number,
    force = false,
  ): void {
    let map = this.keys.get(inbox);
    if (!map) this.keys.set(inbox, (map = new Map()));
    if (!map.has(key)) this.charge(KEY_OVERHEAD + key.length, force);
    map.set(key, { id: state.id, t: state.t, pending: state.pending, expiresAt });
  }

  private unnote(inbox: string, key: string): void {
    const map = this.keys.get(inbox);
    if (!map?.delete(key)) return;
    this.bytes -= KEY_OVERHEAD + key.length;
    if (map.size === 0) this.keys.delete(inbox);
  }

  private drop(inbox: string, queue: Queue, id: string): boolean {
    const entry = queue.entries.get(id);
    if (!entry) return false;
    queue.entries.delete(id);
    if (entry.late) {
      const list = queue.late!;
      list.splice(position(list, id), 1);
      if (list.length === 0) queue.late = null;
    }
    queue.bytes -= entry.msg.body.length;
    this.size--;
    this.bytes -= entry.msg.body.length + ENTRY_OVERHEAD;
    if (queue.entries.size === 0) this.inboxes.delete(inbox);
    return true;
  }

  private dropExpired(inbox: string, queue: Queue, now: number): number {
    if (now < queue.soonest) return 0;
    let n = 0;
    let soonest = Infinity;
    for (const [id, entry] of queue.entries) {
      if (entry.msg.expiresAt <= now) {
        if (this.drop(inbox, queue, id)) n++;
      } else if (entry.msg.expiresAt < soonest) {
        soonest = entry.msg.expiresAt;
      }
    }
    queue.soonest = soonest;
    if (n > 0) this.onExpired(n);
    return n;
  }

  async lease(inbox: string, max: number, leaseMs: number): Promise<StoredMessage[]> {
    const queue = this.inboxes.get(inbox);
    const out: StoredMessage[] = [];
    if (!queue) return out;
    const now = this.now();
    let expired: string[] | undefined;
    let looked = 0;
    for (const entry of inOrder(queue)) {
      if (out.length >= max || looked++ >= LEASE_SCAN) break;
      if (entry.msg.expiresAt <= now) {
        (expired ??= []).push(entry.msg.id);
        continue;
      }
      if (entry.leasedUntil > now) continue;
      entry.leasedUntil = now + leaseMs;
      out.push(entry.msg);
    }
    if (expired) {
      let n = 0;
      for (const id of expired) if (this.drop(inbox, queue, id)) n++;
      if (n > 0) this.onExpired(n);
    }
    return out;
  }

  async remove(inbox: string, ids: readonly string[]): Promise<number> {
    const queue = this.inboxes.get(inbox);
    if (!queue) return 0;
    let n = 0;
    for (const id of ids) if (this.drop(inbox, queue, id)) n++;
    return n;
  }

  async release(inbox: string, ids: readonly string[]): Promise<void> {
    const queue = this.inboxes.get(inbox);
    if (!queue) return;
    for (const id of ids) {
      const entry = queue.entries.get(id);
      if (entry) entry.leasedUntil = 0;
    }
  }

  /** Deletes every expired message and key at once; returns how many messages. */
  sweep(): number {
    return runToEnd(this.sweepSteps());
  }

  /**
   * The periodic sweep's work, one step per inbox (its queue searched only
   * when an entry can have expired: then a step costs the queue's length,
   * which the inbox quota bounds) and one per idempotency key; returns how
   * many messages it dropped. The timer runs it SWEEP_UNITS per turn: with
   * 600,000 inboxes a sweep in one go held the event loop 0.2 s with nothing
   * to drop and 0.9 s with everything to drop.
   */
  private *sweepSteps(): Generator<number, number, undefined> {
    let dropped = 0;
    for (const [inbox, queue] of this.inboxes) {
      const now = this.now();
      const cost = now < queue.soonest ? 1 : queue.entries.size + 1;
      dropped += this.dropExpired(inbox, queue, now);
      yield cost;
    }
    for (const [inbox, map] of this.keys) {
      for (const [key, known] of map) {
        if (known.expiresAt <= this.now()) this.unnote(inbox, key);
        yield 1;
      }
    }
    return dropped;
  }

  /** Every message and answered key, one at a time (the persist file streams them). */
  *entries(): Generator<
    | { kind: 'message'; value: StoredMessage & { inbox: string } }
    | { kind: 'key'; value: MemorySnapshot['keys'][number] }
  > {
    for (const [inbox, queue] of this.inboxes) {
      for (const { msg } of inOrder(queue)) {
        yield { kind: 'message', value: { ...msg, inbox } };
      }
    }
    for (const [inbox, map] of this.keys) {
      for (const [key, { id, t, pending, expiresAt }] of map) {
        if (!pending) yield { kind: 'key', value: { inbox, key, id, t, expiresAt } };
      }
    }
  }

  /**
   * Adds a saved message (ids continue above it). It was accepted before the
   * restart, so it is kept even past the bound (if the bound was lowered):
   * new appends are then refused until the queue drains.
   */
  restoreMessage(saved: StoredMessage & { inbox: string }): void {
    const { inbox, ...msg } = saved;
    this.charge(msg.body.length + ENTRY_OVERHEAD, true);
    this.insert(inbox, { ...msg, body: ownBytes(msg.body) });
    this.ids.advance(msg.id);
  }

  restoreKey(saved: MemorySnapshot['keys'][number]): void {
    const { inbox, key, id, t, expiresAt } = saved;
    this.note(inbox, key, { id, t, pending: false }, expiresAt, true);
  }

  async count(): Promise<number> {
    return this.size;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.sweeping.stop();
  }
}
