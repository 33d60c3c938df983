/**
 * The embedded store: per-inbox queues in this process's memory, expired
 * messages swept every `cleanPeriodMs`. Nothing survives the process.
 */
import type { MessageIds } from './message-ids.js';
import type { NewMessage, Store, StoredMessage } from './store.js';

interface Entry {
  msg: StoredMessage;
  leasedUntil: number;
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
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private readonly ids: MessageIds;

  constructor(options: MemoryStoreOptions) {
    this.now = options.now ?? Date.now;
    this.ids = options.ids;
    this.timer = setInterval(() => this.sweep(), options.cleanPeriodMs);
    this.timer.unref();
  }

  async append(inbox: string, msg: NewMessage): Promise<StoredMessage> {
    const stored: StoredMessage = { ...msg, id: this.ids.next(), expiresAt: msg.t + msg.ttlMs };
    let queue = this.inboxes.get(inbox);
    if (!queue) this.inboxes.set(inbox, (queue = new Map()));
    queue.set(stored.id, { msg: stored, leasedUntil: 0 });
    return stored;
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
    return n;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
