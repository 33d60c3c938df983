/** The in-process hub: sinks in a map, delivery by direct call. */
import {
  WRITE_TIMEOUT_MS,
  type Hub,
  type LiveMessage,
  type LiveSink,
  type LocalDelivery,
} from './hub.js';

/** What one node's sinks do with a live message, and how to hand their writes back. */
export interface LocalOffer {
  result: Promise<LocalDelivery>;
  /** Hands every write to its sink (LiveSink.keepWrite): the message is stored all the same. */
  keep(): void;
}

/** Answers settled once and shared. */
const NOT_TAKEN: Promise<boolean> = Promise.resolve(false);
const NOTHING_WRITTEN = () => {};
const OFFERED_TO_NONE: LocalOffer = { result: Promise.resolve('refused'), keep: NOTHING_WRITTEN };
const ACK_HERE: LocalOffer = { result: Promise.resolve('ack'), keep: NOTHING_WRITTEN };

const isTaken = (result: LocalDelivery): boolean => result === 'taken';

const WOKEN: Promise<void> = Promise.resolve();

export class LocalHub implements Hub {
  /** One process: no wake can be lost, and the heartbeat's re-flush costs no round trip. */
  readonly rechecksStore: boolean = false;
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
    return this.deliverLocal(inbox, msg, false).then(isTaken);
  }

  /**
   * Offers `msg` to the local sinks of `inbox`: 'taken' once one of them
   * wrote it; 'ack' (offered to none) if an ack-mode sink is here; else,
   * when every write failed or none finished within WRITE_TIMEOUT_MS, 'refused'.
   *
   * The caller stores a message that was not taken, so writes still running
   * at the timeout are handed back to their sinks (`keepWrite`): a sink that
   * wrote it does not write the stored copy too. With `keepAll`, every write
   * is handed back at once: for a node that cannot tell whether its answer
   * will decide (a forwarded message, whose sender may time out first).
   */
  protected deliverLocal(
    inbox: string,
    msg: LiveMessage,
    keepAll: boolean,
  ): Promise<LocalDelivery> {
    return this.offerLocal(inbox, msg, keepAll).result;
  }

  /** deliverLocal, and `keep` to hand the writes back later (a caller that stores a 'taken' message). */
  protected offerLocal(inbox: string, msg: LiveMessage, keepAll: boolean): LocalOffer {
    const sinks = this.sinksOf(inbox);
    if (sinks.length === 0) return OFFERED_TO_NONE;
    for (const sink of sinks) if (sink.ackMode) return ACK_HERE;
    return this.awaitWrites(sinks, msg, keepAll);
  }

  private awaitWrites(sinks: readonly LiveSink[], msg: LiveMessage, keepAll: boolean): LocalOffer {
    const writes = sinks.map((sink) => sink.deliver(msg));
    const keep = () => sinks.forEach((sink, i) => sink.keepWrite(msg.id, writes[i]!));
    if (keepAll) keep();
    const result = new Promise<LocalDelivery>((resolve) => {
      let left = writes.length;
      const settle = (result: LocalDelivery) => {
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => {
        // Before the answer: the caller stores only after it.
        if (!keepAll) keep();
        settle('refused');
      }, WRITE_TIMEOUT_MS);
      for (const write of writes) {
        void write.then(
          (ok) => (ok ? settle('taken') : --left === 0 && settle('refused')),
          () => --left === 0 && settle('refused'),
        );
      }
    });
    return { result, keep };
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
