/**
 * Acknowledged delivery for one consumer (PROTOCOL.md §3.3, §4): messages
 * come from the store, leased; at most `size` are in flight (handed to the
 * consumer, not yet acknowledged); an ack removes them from the store; at the
 * end, whatever is still in flight is released so the next consumer gets it
 * at once. A WebSocket in ack mode holds one window for its whole life
 * (size = ackWindow); one long-poll fetch holds one for its request
 * (size = limit) and hands its leases over once its answer is written.
 *
 * Bounded work: an ack acts only on ids in flight here (others cost nothing),
 * and acks that arrive while a removal runs join the next one, so one store
 * call runs at a time whatever the ack rate.
 */
import type { Store, StoredMessage } from '../store/store.js';

export interface AckWindowHooks {
  /** Acknowledged messages were removed (the consumer has room again). */
  removed?(n: number): void;
  /** A removal failed: the messages stay stored and come again (at least once). */
  failed?(err: Error): void;
}

export class AckWindow {
  private readonly inFlight = new Set<string>();
  private acked: string[] = [];
  private removing = false;
  private ended = false;

  constructor(
    private readonly store: Store,
    private readonly inbox: string,
    private readonly size: number,
    private readonly leaseMs: number,
    private readonly hooks: AckWindowHooks = {},
  ) {}

  /** How many more messages may be in flight. */
  get room(): number {
    return this.ended ? 0 : this.size - this.inFlight.size;
  }

  get pending(): number {
    return this.inFlight.size;
  }

  /** Leases up to `max` messages (never more than the room). */
  lease(max = this.room): Promise<StoredMessage[]> {
    const n = Math.min(max, this.room);
    return n > 0 ? this.store.lease(this.inbox, n, this.leaseMs) : Promise.resolve([]);
  }

  /**
   * Leased messages the consumer got: in flight until acknowledged, or
   * released at once if the window has ended meanwhile.
   */
  async sent(ids: readonly string[]): Promise<number> {
    if (this.ended) return this.unsent(ids);
    for (const id of ids) this.inFlight.add(id);
    return 0;
  }

  /** Leased messages the consumer did not get: free for anyone at once. Resolves with how many. */
  async unsent(ids: readonly string[]): Promise<number> {
    if (ids.length) await this.store.release(this.inbox, ids);
    return ids.length;
  }

  /** The consumer acknowledged these ids; only those in flight here count. */
  ack(ids: readonly string[]): void {
    for (const id of ids) if (this.inFlight.delete(id)) this.acked.push(id);
    if (this.acked.length === 0 || this.removing) return;
    this.removing = true;
    void this.removeAcked().finally(() => (this.removing = false));
  }

  private async removeAcked(): Promise<void> {
    while (this.acked.length > 0) {
      const batch = this.acked.splice(0);
      try {
        await this.store.remove(this.inbox, batch);
        this.hooks.removed?.(batch.length);
      } catch (err) {
        this.hooks.failed?.(err as Error);
      }
    }
  }

  /**
   * Ends the window: everything still in flight is released for the next
   * consumer. Resolves with how many messages were released.
   */
  async end(): Promise<number> {
    this.ended = true;
    const ids = [...this.inFlight];
    this.inFlight.clear();
    if (ids.length) await this.store.release(this.inbox, ids);
    return ids.length;
  }

  /**
   * Ends the window keeping the leases (a fetch whose answer was written:
   * the client acknowledges, or the leases run out and the messages come again).
   */
  handOver(): void {
    this.ended = true;
    this.inFlight.clear();
  }
}
