/** The in-process hub: sinks in a map, delivery by direct call. */
import type { Hub, LiveMessage, LiveSink, LocalDelivery, UndeliveredHandler } from './hub.js';

export class LocalHub implements Hub {
  private readonly sinks = new Map<string, Set<LiveSink>>();

  constructor(private readonly undelivered: UndeliveredHandler) {}

  async subscribe(inbox: string, sink: LiveSink): Promise<() => void> {
    return this.subscribeLocal(inbox, sink);
  }

  protected subscribeLocal(inbox: string, sink: LiveSink): () => void {
    let set = this.sinks.get(inbox);
    if (!set) this.sinks.set(inbox, (set = new Set()));
    set.add(sink);
    return () => {
      const current = this.sinks.get(inbox);
      if (!current) return;
      current.delete(sink);
      if (current.size === 0) this.sinks.delete(inbox);
    };
  }

  async publish(inbox: string, msg: LiveMessage): Promise<boolean> {
    return this.deliverLocal(inbox, msg) === 'taken';
  }

  /**
   * Offers `msg` to the local sinks of `inbox`: 'taken' if any took it,
   * 'ack' (offered to none) if an ack-mode sink is here, else 'refused'.
   */
  protected deliverLocal(inbox: string, msg: LiveMessage): LocalDelivery {
    const set = this.sinks.get(inbox);
    if (!set || set.size === 0) return 'refused';
    for (const sink of set) if (sink.ackMode) return 'ack';
    // `pending` starts at 1 so that no `done` can settle before every sink was offered.
    let pending = 1;
    let written = false;
    let taken = 0;
    const done = (ok: boolean): void => {
      written ||= ok;
      if (--pending === 0 && !written && taken > 0) this.undelivered(inbox, msg);
    };
    for (const sink of [...set]) {
      pending++;
      if (sink.offer(msg, done)) taken++;
      else pending--;
    }
    done(false);
    return taken > 0 ? 'taken' : 'refused';
  }

  async notifyStored(inbox: string): Promise<void> {
    this.wakeLocal(inbox);
  }

  protected wakeLocal(inbox: string): void {
    const set = this.sinks.get(inbox);
    if (set) for (const sink of [...set]) sink.wake();
  }

  /** Inboxes with at least one sink on this node. */
  protected localInboxes(): string[] {
    return [...this.sinks.keys()];
  }

  protected hasLocal(inbox: string): boolean {
    return this.sinks.has(inbox);
  }

  async close(): Promise<void> {
    this.sinks.clear();
  }
}
