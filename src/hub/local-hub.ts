/** The in-process hub: sinks in a map, delivery by direct call. */
import {
  WRITE_TIMEOUT_MS,
  type Hub,
  type LiveMessage,
  type LiveSink,
  type LocalDelivery,
} from './hub.js';

/** publish()'s answer when the inbox has no socket here (settled once, shared). */
const NOT_TAKEN: Promise<boolean> = Promise.resolve(false);

const WOKEN: Promise<void> = Promise.resolve();

export class LocalHub implements Hub {
  /** inbox -> its sink, or a set of them when there are several (most inboxes have one). */
  private readonly sinks = new Map<string, LiveSink | Set<LiveSink>>();

  async subscribe(inbox: string, sink: LiveSink): Promise<boolean> {
    this.subscribeLocal(inbox, sink);
    return true; // this hub does not read the store
  }

  unsubscribe(inbox: string, sink: LiveSink): void {
    this.unsubscribeLocal(inbox, sink);
  }

  protected subscribeLocal(inbox: string, sink: LiveSink): void {
    const held = this.sinks.get(inbox);
    if (!held) this.sinks.set(inbox, sink);
    else if (held instanceof Set) held.add(sink);
    else if (held !== sink) this.sinks.set(inbox, new Set([held, sink]));
  }

  protected unsubscribeLocal(inbox: string, sink: LiveSink): void {
    const held = this.sinks.get(inbox);
    if (held === sink) {
      this.sinks.delete(inbox);
    } else if (held instanceof Set) {
      held.delete(sink);
      if (held.size === 1) this.sinks.set(inbox, held.values().next().value!);
    }
  }

  /** The sinks of an inbox, as a list (empty when none). */
  private sinksOf(inbox: string): LiveSink[] {
    const held = this.sinks.get(inbox);
    if (!held) return [];
    return held instanceof Set ? [...held] : [held];
  }

  localCount(inbox: string): number {
    const held = this.sinks.get(inbox);
    return !held ? 0 : held instanceof Set ? held.size : 1;
  }

  publish(inbox: string, msg: LiveMessage, _present?: readonly string[]): Promise<boolean> {
    // Most POSTs find nobody: answer them without a delivery's promise chain.
    if (!this.sinks.has(inbox)) return NOT_TAKEN;
    return this.taken(inbox, msg);
  }

  private async taken(inbox: string, msg: LiveMessage): Promise<boolean> {
    return (await this.deliverLocal(inbox, msg)) === 'taken';
  }

  /**
   * Offers `msg` to the local sinks of `inbox`: 'taken' once one of them
   * wrote it; 'ack' (offered to none) if an ack-mode sink is here; else,
   * when every write failed or none finished within WRITE_TIMEOUT_MS, 'refused'.
   */
  protected deliverLocal(inbox: string, msg: LiveMessage): Promise<LocalDelivery> {
    const sinks = this.sinksOf(inbox);
    if (sinks.length === 0) return Promise.resolve('refused');
    for (const sink of sinks) if (sink.ackMode) return Promise.resolve('ack');
    const writes = sinks.map((sink) => sink.deliver(msg));
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

  notifyStored(inbox: string, _present?: readonly string[]): Promise<void> {
    if (!this.sinks.has(inbox)) return WOKEN;
    return this.wake(inbox);
  }

  private async wake(inbox: string): Promise<void> {
    this.wakeLocal(inbox);
  }

  protected wakeLocal(inbox: string): void {
    for (const sink of this.sinksOf(inbox)) sink.wake();
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
