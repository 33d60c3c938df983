/**
 * The embedded store: per-inbox queues in this process's memory, expired
 * messages swept every `cleanPeriodMs`. Nothing survives a crash; the
 * persist file (store/persist.ts) keeps the queue across a graceful restart.
 */
import type { MessageIds } from './message-ids.js';
import {
  compareIds,
  type Answer,
  type Appended,
  type NewMessage,
  type Store,
  type StoredMessage,
} from './store.js';

interface Entry {
  msg: StoredMessage;
  leasedUntil: number;
}

/** Everything the memory store holds, for the persist file (leases are not kept). */
export interface MemorySnapshot {
  messages: (StoredMessage & { inbox: string })[];
  keys: (Answer & { inbox: string; key: string; expiresAt: number })[];
}

export interface MemoryStoreOptions {
  cleanPeriodMs: number;
  ids: MessageIds;
  now?: () => number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  /** inbox -> (message id -> entry), in insertion (= id) order. */
  private readonly inboxes = new Map<string, Map<string, Entry>>();
  /** inbox -> (idempotency key -> first answer, with its expiry). */
  private readonly keys = new Map<string, Map<string, Answer & { expiresAt: number }>>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private readonly ids: MessageIds;

  constructor(options: MemoryStoreOptions) {
    this.now = options.now ?? Date.now;
    this.ids = options.ids;
    this.timer = setInterval(() => this.sweep(), options.cleanPeriodMs);
    this.timer.unref();
  }

  async append(inbox: string, msg: NewMessage, idempotencyKey?: string): Promise<Appended> {
    // Synchronous from check to insert: atomic in this single-threaded store.
    const prior = idempotencyKey === undefined ? null : this.known(inbox, idempotencyKey);
    if (prior) return { ...prior, duplicate: true };
    const stored: StoredMessage = { ...msg, id: this.ids.next(), expiresAt: msg.t + msg.ttlMs };
    let queue = this.inboxes.get(inbox);
    if (!queue) this.inboxes.set(inbox, (queue = new Map()));
    queue.set(stored.id, { msg: stored, leasedUntil: 0 });
    if (idempotencyKey !== undefined) this.note(inbox, idempotencyKey, stored, stored.expiresAt);
    return { id: stored.id, t: stored.t, expiresAt: stored.expiresAt, duplicate: false };
  }

  async recall(inbox: string, idempotencyKey: string): Promise<Answer | null> {
    const known = this.known(inbox, idempotencyKey);
    return known && { id: known.id, t: known.t };
  }

  async remember(
    inbox: string,
    idempotencyKey: string,
    answer: Answer,
    ttlMs: number,
  ): Promise<void> {
    this.note(inbox, idempotencyKey, answer, this.now() + ttlMs);
  }

  private known(inbox: string, key: string): (Answer & { expiresAt: number }) | null {
    const known = this.keys.get(inbox)?.get(key);
    return known && known.expiresAt > this.now() ? known : null;
  }

  private note(inbox: string, key: string, answer: Answer, expiresAt: number): void {
    let map = this.keys.get(inbox);
    if (!map) this.keys.set(inbox, (map = new Map()));
    map.set(key, { id: answer.id, t: answer.t, expiresAt });
  }

  async lease(inbox: string, max: number, leaseMs: number): Promise<StoredMessage[]> {
    const queue = this.inboxes.get(inbox);
    const out: StoredMessage[] = [];
    if (!queue) return out;
    const now = this.now();
    for (const [id, entry] of queue) {
      if (out.length >= max) break;
      if (entry.msg.expiresAt <= now) {
        queue.delete(id);
        continue;
      }
      if (entry.leasedUntil > now) continue;
      entry.leasedUntil = now + leaseMs;
      out.push(entry.msg);
    }
    if (queue.size === 0) this.inboxes.delete(inbox);
    return out;
  }

  async remove(inbox: string, ids: readonly string[]): Promise<number> {
    const queue = this.inboxes.get(inbox);
    if (!queue) return 0;
    let n = 0;
    for (const id of ids) if (queue.delete(id)) n++;
    if (queue.size === 0) this.inboxes.delete(inbox);
    return n;
  }

  async release(inbox: string, ids: readonly string[]): Promise<void> {
    const queue = this.inboxes.get(inbox);
    if (!queue) return;
    for (const id of ids) {
      const entry = queue.get(id);
      if (entry) entry.leasedUntil = 0;
    }
  }

  /** Deletes every expired message; returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [inbox, queue] of this.inboxes) {
      for (const [id, entry] of queue) {
        if (entry.msg.expiresAt <= now) {
          queue.delete(id);
          n++;
        }
      }
      if (queue.size === 0) this.inboxes.delete(inbox);
    }
    for (const [inbox, map] of this.keys) {
      for (const [key, known] of map) if (known.expiresAt <= now) map.delete(key);
      if (map.size === 0) this.keys.delete(inbox);
    }
    return n;
  }

  snapshot(): MemorySnapshot {
    const out: MemorySnapshot = { messages: [], keys: [] };
    for (const [inbox, queue] of this.inboxes) {
      for (const { msg } of queue.values()) out.messages.push({ ...msg, inbox });
    }
    for (const [inbox, map] of this.keys) {
      for (const [key, known] of map) out.keys.push({ inbox, key, ...known });
    }
    return out;
  }

  /** Adds saved messages (in id order per inbox) and keys; ids continue above them. */
  restore(snapshot: MemorySnapshot): void {
    const messages = [...snapshot.messages].sort((a, b) => compareIds(a.id, b.id));
    for (const { inbox, ...msg } of messages) {
      let queue = this.inboxes.get(inbox);
      if (!queue) this.inboxes.set(inbox, (queue = new Map()));
      queue.set(msg.id, { msg, leasedUntil: 0 });
      this.ids.advance(msg.id);
    }
    for (const { inbox, key, ...answer } of snapshot.keys)
      this.note(inbox, key, answer, answer.expiresAt);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
