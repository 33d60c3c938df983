/**
 * How an owner socket delivers, one object per mode, so the socket itself
 * carries no mode branches: it asks its Delivery how much to lease, how to
 * write a stored message, what to do once a batch was written, whether a live
 * message may go out, and what an incoming frame means.
 *
 * - LegacyDelivery (PROTOCOL.md §3.2): a stored message is removed once its
 *   frame (the bare body) was written; live messages are written as they
 *   come, and the writes the hub stopped waiting for (a timeout, or a Redis
 *   node that cannot know) are kept by id (the newest LIVE_WRITES_KEPT), so
 *   the stored copy of such a message is not written a second time. Frames
 *   from the client are ignored.
 * - AckDelivery (§3.3): every message comes from the store as an envelope
 *   and stays leased, in flight in an AckWindow, until the client's ack
 *   frame names it; nothing is taken live; at the end what is in flight is
 *   released.
 */
import type { RawData } from 'ws';
import type { LiveMessage } from '../hub/hub.js';
import type { Store, StoredMessage } from '../store/store.js';
import { parseAckFrame } from '../ws/frames.js';
import { AckWindow, type AckWindowHooks } from './ack-window.js';
import { envelope } from './envelope.js';

/** Writes one frame; resolves true once it was written to the socket. */
export interface FrameWriter {
  writeFrame(data: Uint8Array | string, binary: boolean): Promise<boolean>;
}

export interface Delivery {
  readonly ackMode: boolean;
  /** How many stored messages to lease next (0: wait for room). */
  room(): number;
  lease(n: number): Promise<StoredMessage[]>;
  /** Writes one stored message. */
  write(m: StoredMessage, writer: FrameWriter): Promise<boolean>;
  /**
   * After a batch: what was written and what was not. Resolves with how many
   * messages were released for other consumers.
   */
  settle(written: readonly string[], unwritten: readonly string[]): Promise<number>;
  /** A live message: the write, or null when this mode takes nothing live. */
  live(msg: LiveMessage, writer: FrameWriter): Promise<boolean> | null;
  /** The live write of message `id` may have a stored copy: never write both (LiveSink.keepWrite). */
  keep(id: string, write: Promise<boolean>): void;
  /** A frame from the client after the handshake. */
  frame(data: RawData, isBinary: boolean): void;
  /** The socket is gone: resolves with how many messages were released for others. */
  end(): Promise<number>;
}

/** Stored messages leased per batch in legacy mode. */
export const FLUSH_BATCH = 100;
const LIVE_WRITES_KEPT = 1024;
const SETTLED: Promise<void> = Promise.resolve();

export class LegacyDelivery implements Delivery {
  readonly ackMode = false;
  /**
   * Live writes the hub stopped waiting for, by message id: their messages
   * may be stored too. Made at the first (most sockets never have one), so
   * a live write usually leaves nothing behind once written.
   */
  private kept: Map<string, Promise<boolean>> | null = null;
  /**
   * The removal of the last written batch, still running: the next lease
   * need not wait for it (its messages are leased, so no lease returns them),
   * which saves a store round trip per batch. One at a time.
   */
  private removing: Promise<void> = SETTLED;

  constructor(
    private readonly store: Store,
    private readonly inbox: string,
    private readonly leaseMs: number,
  ) {}

  room(): number {
    return FLUSH_BATCH;
  }

  lease(n: number): Promise<StoredMessage[]> {
    return this.store.lease(this.inbox, n, this.leaseMs);
  }

  write(m: StoredMessage, writer: FrameWriter): Promise<boolean> {
    return this.kept?.get(m.id) ?? writer.writeFrame(m.body, m.binary);
  }

  async settle(written: readonly string[], unwritten: readonly string[]): Promise<number> {
    if (this.kept) {
      for (const id of written) this.kept.delete(id);
      for (const id of unwritten) this.kept.delete(id);
    }
    await this.removing;
    if (written.length) {
      // A failed removal leaves the messages stored and leased: they come again
      // when the lease ends (the same as a relay that died right after writing).
      this.removing = this.store.remove(this.inbox, written).then(
        () => {},
        () => {},
      );
    }
    if (unwritten.length) await this.store.release(this.inbox, unwritten);
    return unwritten.length;
  }

  live(msg: LiveMessage, writer: FrameWriter): Promise<boolean> {
    return writer.writeFrame(msg.body, msg.binary);
  }

  keep(id: string, write: Promise<boolean>): void {
    const kept = (this.kept ??= new Map());
    kept.set(id, write);
    if (kept.size > LIVE_WRITES_KEPT) kept.delete(kept.keys().next().value!);
  }

  frame(): void {
    // §3.2: anything the client sends after the handshake is ignored.
  }

  async end(): Promise<number> {
    await this.removing;
    return 0;
  }
}

export class AckDelivery implements Delivery {
  readonly ackMode = true;
  private readonly window: AckWindow;

  constructor(store: Store, inbox: string, size: number, leaseMs: number, hooks: AckWindowHooks) {
    this.window = new AckWindow(store, inbox, size, leaseMs, hooks);
  }

  room(): number {
    return Math.min(this.window.room, FLUSH_BATCH);
  }

  lease(n: number): Promise<StoredMessage[]> {
    return this.window.lease(n);
  }

  write(m: StoredMessage, writer: FrameWriter): Promise<boolean> {
    return writer.writeFrame(envelope(m), false);
  }

  async settle(written: readonly string[], unwritten: readonly string[]): Promise<number> {
    return (await this.window.sent(written)) + (await this.window.unsent(unwritten));
  }

  live(): null {
    return null;
  }

  keep(): void {
    // Nothing is written live in ack mode.
  }

  frame(data: RawData, isBinary: boolean): void {
    const ids = parseAckFrame(data, isBinary);
    if (ids) this.window.ack(ids);
  }

  end(): Promise<number> {
    return this.window.end();
  }
}
