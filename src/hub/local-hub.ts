/** The in-process hub: sinks in a map, delivery by direct call. */
import {
  WRITE_TIMEOUT_MS,
  type Hub,
  type LiveMessage,
  type LiveSink,
  type LocalDelivery,
} from './hub.js';

export class LocalHub implements Hub {
  private readonly sinks = new Map<string, Set<LiveSink>>();

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

  localCount(inbox: string): number {
    return this.sinks.get(inbox)?.size ?? 0;
  }

  async publish(inbox: string, msg: LiveMessage, _present?: readonly string[]): Promise<boolean> {
    return (await this.deliverLocal(inbox, msg)) === 'taken';
  }

  /**
   * Offers `msg` to the local sinks of `inbox`: 'taken' once one of them
   * wrote it; 'ack' (offered to none) if an ack-mode sink is here; else,
   * when every write failed or none finished within WRITE_TIMEOUT_MS, 'refused'.
   */
  protected deliverLocal(inbox: string, msg: LiveMessage): Promise<LocalDelivery> {
    const set = this.sinks.get(inbox);
    if (!set || set.size === 0) return Promise.resolve('refused');
    for (const sink of set) if (sink.ackMode) return Promise.resolve('ack');
    const writes = [...set].map((sink) => sink.deliver(msg));
    return new Promise((resolve) => {
      let left = writes.length;
      const settle = (result: LocalDelivery) => {
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => settle('refused'), WRITE_TIMEOUT_MS);
      for (const write of writes) {
        void write.then(
          (ok) => (ok ? settle('taken') : --left === 0 && settle('refused')),
          () => --left === 0 && settle('refused'),
        );
      }
    });
  }

  async notifyStored(inbox: string, _present?: readonly string[]): Promise<void> {
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
