/**
 * The hub routes live messages to the authenticated sockets of an inbox and
 * wakes them when messages are stored for them. The local hub serves one
 * process; a Redis hub spans many.
 *
 * Contract:
 * - `publish` offers a message to every sink subscribed to the inbox and
 *   resolves true if at least one sink took it live, so that the caller need
 *   not store it. It resolves false when no sink took it, and also whenever
 *   an ack-mode sink is subscribed anywhere: ack mode receives every message
 *   from the store (PROTOCOL.md §3.3), so the caller must store it; legacy
 *   sinks of that inbox are then not offered it live either (they get it
 *   from the store too, each message going to one socket). A sink that took a message
 *   reports later whether the write succeeded; if every sink that took it
 *   fails, the hub hands the message to its `undelivered` callback (which
 *   stores it unless the sender said `store=false`), so a taken message is
 *   never dropped.
 * - `notifyStored` wakes every sink of the inbox, on any node, so that it
 *   flushes the store. Call it after the append has completed.
 * - `subscribe` resolves, with the function that unsubscribes, once the sink
 *   is reachable by `publish` and `notifyStored` from every node: a session
 *   reads the store only after that (see the ordering argument in redis-hub.ts).
 */
export interface LiveMessage {
  id: string;
  body: Uint8Array;
  binary: boolean;
  t: number;
  ttlMs: number;
  /** False for `?store=false`: a message that no socket could take is dropped. */
  store: boolean;
}

export interface LiveSink {
  /** Ack-mode sessions take nothing live: every message reaches them through the store. */
  readonly ackMode: boolean;
  /**
   * Takes the message (returns true) or refuses it (closed, slow consumer).
   * When it takes it, it calls `done` exactly once, never synchronously, with
   * whether the frame was written.
   */
  offer(msg: LiveMessage, done: (written: boolean) => void): boolean;
  /** Messages were stored for this inbox: flush them. */
  wake(): void;
}

/** What one node did with a live message. */
export type LocalDelivery = 'taken' | 'refused' | 'ack';

export type UndeliveredHandler = (inbox: string, msg: LiveMessage) => void;

export interface Hub {
  subscribe(inbox: string, sink: LiveSink): Promise<() => void>;
  publish(inbox: string, msg: LiveMessage): Promise<boolean>;
  notifyStored(inbox: string): Promise<void>;
  close(): Promise<void>;
}
