/**
 * The hub routes live messages to the authenticated sockets of an inbox and
 * wakes them when messages are stored for them. The local hub serves one
 * process; a Redis hub spans many.
 *
 * Contract:
 * - `publish` offers a message to every sink subscribed to the inbox, on any
 *   node, and resolves true only once at least one sink has written it to
 *   its socket (PROTOCOL.md §2: "200 is a promise"). It resolves false when
 *   no sink wrote it within the write timeout (none there, all closed, slow,
 *   or a node that does not answer), so that the caller stores it; and
 *   also whenever an ack-mode sink is subscribed anywhere: ack mode receives
 *   every message from the store (§3.3), so the caller must store it; legacy
 *   sinks of that inbox are then not offered it live either (they get it
 *   from the store too, each message going to one socket). A write
 *   that completes after the timeout leaves the message stored as well,
 *   never lost: the hub hands such writes to their sinks (`keepWrite`), so
 *   a socket does not write the stored copy of what it already wrote, but
 *   another socket of the owner may receive it a second time.
 * - `notifyStored` wakes every sink of the inbox, on any node, so that it
 *   flushes the store. Call it after the append has completed.
 * - `subscribe` resolves once the sink is reachable by `publish` and
 *   `notifyStored` from every node: a session reads the store only after
 *   that (see the ordering argument in redis-hub.ts). It resolves false only
 *   when the store held nothing for the inbox when the subscription was made
 *   (read in the same atomic step), so that reading it can be skipped: what
 *   is stored later finds the subscription and wakes the sink. True
 *   otherwise, or when it cannot tell. `unsubscribe` undoes it.
 */
export interface LiveMessage {
  id: string;
  body: Uint8Array;
  binary: boolean;
  t: number;
  ttlMs: number;
  /** Inbox id of the sender of a verified signed post; stored with the message. */
  from?: string;
}

export interface LiveSink {
  /** Ack-mode sessions take nothing live: every message reaches them through the store. */
  readonly ackMode: boolean;
  /**
   * Writes the message as one frame. Resolves true once the frame was
   * written to the socket, false when it was not or cannot be (closed, over
   * the buffer limit). A sink that is flushing stored messages writes it
   * right after them. Never rejects.
   */
  deliver(msg: LiveMessage): Promise<boolean>;
  /**
   * The hub stopped waiting for `write`, this sink's answer to `deliver` of
   * message `id` (a timeout, or a node that cannot tell whether its answer
   * arrived): the caller may store the message. If the write goes out, the
   * sink must not write that stored copy again; if it does not, it writes
   * the stored copy as usual.
   */
  keepWrite(id: string, write: Promise<boolean>): void;
  /** Messages were stored for this inbox: flush them. */
  wake(): void;
}

/** What one node did with a live message. */
export type LocalDelivery = 'taken' | 'refused' | 'ack';

/** How long a publish waits for a local socket to write a live message. */
export const WRITE_TIMEOUT_MS = 250;

export interface Hub {
  subscribe(inbox: string, sink: LiveSink): Promise<boolean>;
  /**
   * Undoes `subscribe` (a sink not subscribed: nothing happens). A method,
   * not a function handed back per subscription: an idle socket keeps no
   * closure for it.
   */
  unsubscribe(inbox: string, sink: LiveSink): void;
  /**
   * `present`: the nodes present for the inbox as the store read them when it
   * reserved the message's id (`Reservation.present`); the hub then does not
   * read presence itself. A node that arrived since gets the message from the
   * store (woken after the append), one that left refuses it: never a loss.
   */
  publish(inbox: string, msg: LiveMessage, present?: readonly string[]): Promise<boolean>;
  /**
   * `present`: as read by the store in the same atomic step as the append
   * (`Appended.present`), which keeps the ordering argument of redis-hub.ts.
   */
  notifyStored(inbox: string, present?: readonly string[]): Promise<void>;
  /** Authenticated sinks of the inbox on this node. */
  localCount(inbox: string): number;
  /**
   * True: the hub itself wakes the local sinks of every inbox that has
   * messages stored, at least once per heartbeat, so the gateway's heartbeat
   * need not re-flush every socket (for each idle socket, a store round trip
   * saved). False: each socket re-flushes on its heartbeat.
   */
  readonly rechecksStore: boolean;
  close(): Promise<void>;
}
