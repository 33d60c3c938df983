/**
 * The hub routes live messages to the authenticated sockets of an inbox and
 * wakes them when messages are stored for them. The local hub serves one
 * process; a Redis hub spans many.
 *
 * Contract:
 * - `publish` offers a message to every sink subscribed to the inbox and
 *   resolves true if at least one sink took it. A sink that took a message
 *   reports later whether the write succeeded; if every sink that took it
 *   fails, the hub hands the message to its `undelivered` callback (which
 *   stores it unless the sender said `store=false`), so a taken message is
 *   never dropped.
 * - `notifyStored` wakes every sink of the inbox so that it flushes the store.
 * - `subscribe` returns the function that unsubscribes.
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
  /**
   * Takes the message (returns true) or refuses it (closed, slow consumer).
   * When it takes it, it calls `done` exactly once, never synchronously, with
   * whether the frame was written.
   */
  offer(msg: LiveMessage, done: (written: boolean) => void): boolean;
  /** Messages were stored for this inbox: flush them. */
  wake(): void;
}

export type UndeliveredHandler = (inbox: string, msg: LiveMessage) => void;

export interface Hub {
  subscribe(inbox: string, sink: LiveSink): () => void;
  publish(inbox: string, msg: LiveMessage): Promise<boolean>;
  notifyStored(inbox: string): void;
  close(): Promise<void>;
}
