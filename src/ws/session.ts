/**
 * One owner WebSocket: the handshake (PROTOCOL.md §3.1), then delivery.
 *
 * Legacy mode (§3.2): stored messages oldest first, each removed from the
 * store only after its frame was written, then live messages as they arrive.
 * Ack mode (§3.3, `"ack": true` in the solution): every message comes from
 * the store as an envelope; it stays stored, leased to this session, until
 * the client acknowledges it; at most `ackWindow` are in flight; whatever is
 * unacknowledged when the session ends is released for the next session.
 *
 * States: `handshake` -> `live` -> `closed`. While a flush runs, live messages
 * wait in `pendingLive` so that they follow the stored ones; if the socket
 * closes first, they are reported unwritten and the hub stores them.
 */
import type { RawData, WebSocket } from 'ws';
import { verifySolution } from '../auth/handshake.js';
import type { ChallengeKeyring } from '../auth/keyring.js';
import { encodeB64url } from '../client/b64url.js';
import { RelayError, errorBody, toRelayError } from '../errors.js';
import type { Hub, LiveMessage, LiveSink } from '../hub/hub.js';
import type { Logger } from '../logger.js';
import type { Store, StoredMessage } from '../store/store.js';
import { parseAckFrame, parseHandshakeFrame } from './frames.js';

/** Challenges one connection may hold at once; asking for more forgets the oldest. */
const MAX_CHALLENGES = 4;
const FLUSH_BATCH = 100;
const DRAIN_POLL_MS = 50;
const FLUSH_RETRY_MS = 1000;

export interface SessionDeps {
  keyring: ChallengeKeyring;
  store: Store;
  hub: Hub;
  logger: Logger;
  handshakeTimeoutMs: number;
  maxBufferedBytes: number;
  /** How long a flushed message stays leased: it becomes available again if we die. */
  leaseMs: number;
  ackWindow: number;
}

interface Pending {
  msg: LiveMessage;
  done: (written: boolean) => void;
}

/** The ack-mode frame of a stored message. */
export function envelope(m: StoredMessage): string {
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  return JSON.stringify(
    m.binary
      ? { id: m.id, t: m.t, data: encodeB64url(body), binary: true }
      : { id: m.id, t: m.t, data: body.toString('utf8') },
  );
}

export class Session implements LiveSink {
  state: 'handshake' | 'live' | 'closed' = 'handshake';
  ackMode = false;
  private readonly issued: string[] = [];
  private readonly handshakeTimer: NodeJS.Timeout;
  private unsubscribe: (() => void) | null = null;
  private flushing = false;
  private flushAgain = false;
  private pendingLive: Pending[] = [];
  private pendingBytes = 0;
  /** Ack mode: written to the socket, not yet acknowledged (still leased to us). */
  private readonly inFlight = new Set<string>();
  private drainWait: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Frames are handled one after another: handshake steps and acks are asynchronous. */
  private frames: Promise<void> = Promise.resolve();
  /** Answered the last ping (the gateway's heartbeat reads and resets it). */
  alive = true;
  /** A heartbeat found the socket over the buffer limit. */
  overLimit = false;

  constructor(
    readonly ws: WebSocket,
    readonly inbox: string,
    private readonly deps: SessionDeps,
  ) {
    this.handshakeTimer = setTimeout(() => {
      this.fail(new RelayError('handshake_timeout'));
    }, deps.handshakeTimeoutMs);
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', (err) => this.deps.logger.debug({ err: err.message }, 'socket error'));
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  /** Ends the session on an error (logged at debug for handshake failures). */
  fail(err: RelayError): void {
    if (this.state === 'closed') return;
    if (this.state === 'handshake') {
      this.deps.logger.debug({ reason: err.message, code: err.code }, 'handshake failed');
    }
    this.close(err);
  }

  /**
   * Closes with a catalog error. Before the handshake an error frame comes
   * first; after it, only the close code and reason: in legacy mode every
   * frame is a message body, so an error frame would reach the owner as one.
   */
  close(err: RelayError): void {
    if (this.ws.readyState === this.ws.OPEN) {
      if (this.state === 'handshake') this.ws.send(errorBody(err));
      this.ws.close(err.closeCode, err.code);
    }
    this.onClose();
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.state === 'handshake') {
      this.frames = this.frames.then(() => this.handshakeFrame(data, isBinary));
    } else if (this.state === 'live' && this.ackMode) {
      // §3.2: anything but an ack is ignored after the handshake.
      const ids = parseAckFrame(data, isBinary);
      if (ids) this.frames = this.frames.then(() => this.onAck(ids));
    }
  }

  private async handshakeFrame(data: RawData, isBinary: boolean): Promise<void> {
    if (this.state !== 'handshake') return;
    try {
      const frame = parseHandshakeFrame(data, isBinary);
      if (frame.kind === 'challenge') {
        const challenge = await this.deps.keyring.issue(this.inbox);
        this.issued.push(challenge.txt);
        if (this.issued.length > MAX_CHALLENGES) this.issued.shift();
        if (this.state === 'handshake') this.ws.send(JSON.stringify({ challenge }));
        return;
      }
      await verifySolution(
        {
          inboxId: this.inbox,
          keyring: this.deps.keyring,
          issuedHere: (t) => this.issued.includes(t),
        },
        frame.solution,
      );
      this.ackMode = frame.ack;
    } catch (err) {
      this.fail(toRelayError(err));
      return;
    }
    if (this.state === 'handshake') await this.goLive();
  }

  private async goLive(): Promise<void> {
    clearTimeout(this.handshakeTimer);
    this.state = 'live';
    this.issued.length = 0;
    // Subscribe before reading the store: a POST that finds no socket stores
    // the message and then wakes us, so nothing falls between the two (the
    // ordering argument is in hub/redis-hub.ts). 'handshake done' follows the
    // subscription, so from then on every relay can reach this socket; live
    // messages that arrive meanwhile wait, as during a flush, and so follow
    // both 'handshake done' and the stored messages.
    this.flushing = true;
    const unsubscribe = await this.deps.hub.subscribe(this.inbox, this);
    this.flushing = false;
    if (this.state !== 'live') {
      unsubscribe();
      this.sendPendingLive(); // reports them unwritten: the hub stores them
      return;
    }
    this.unsubscribe = unsubscribe;
    this.ws.send('{"message":"handshake done"}');
    this.deps.logger.debug({ ack: this.ackMode }, 'handshake done');
    this.wake();
  }

  private async onAck(ids: string[]): Promise<void> {
    for (const id of ids) this.inFlight.delete(id);
    try {
      await this.deps.store.remove(this.inbox, ids);
    } catch (err) {
      // Still stored: delivered again later, which ack mode allows (at least once).
      this.deps.logger.warn({ err: (err as Error).message }, 'ack not applied');
    }
    this.wake();
  }

  offer(msg: LiveMessage, done: (written: boolean) => void): boolean {
    if (this.ackMode || this.state !== 'live' || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount + this.pendingBytes > this.deps.maxBufferedBytes) return false;
    if (this.flushing) {
      this.pendingLive.push({ msg, done });
      this.pendingBytes += msg.body.length;
    } else {
      void this.write(msg.body, msg.binary).then(done);
    }
    return true;
  }

  wake(): void {
    if (this.state !== 'live') return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    this.flush()
      .catch((err: unknown) => {
        // The store is unreachable: keep the socket (live messages still
        // arrive) and try the flush again later.
        this.deps.logger.warn({ err: (err as Error).message }, 'flush failed; retrying');
        if (this.state === 'live' && !this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.wake();
          }, FLUSH_RETRY_MS);
        }
      })
      .finally(() => {
        this.flushing = false;
        this.sendPendingLive();
        // A wake that came after the loop's last check (or while subscribing)
        // would otherwise be lost until the next heartbeat.
        if (this.flushAgain && !this.retryTimer) this.wake();
      });
  }

  private async flush(): Promise<void> {
    do {
      this.flushAgain = false;
      while (this.state === 'live') {
        if (this.ws.bufferedAmount > this.deps.maxBufferedBytes) {
          await this.drained();
          continue;
        }
        const room = this.ackMode ? this.deps.ackWindow - this.inFlight.size : FLUSH_BATCH;
        if (room <= 0) break; // the next ack wakes us
        const batch = await this.deps.store.lease(
          this.inbox,
          Math.min(room, FLUSH_BATCH),
          this.deps.leaseMs,
        );
        if (batch.length === 0) break;
        await this.sendStored(batch);
      }
    } while (this.flushAgain && this.state === 'live');
  }

  /**
   * Writes a leased batch. Legacy: removes what was written. Ack: keeps it
   * leased until acknowledged. Either way, releases what was not written.
   */
  private async sendStored(batch: StoredMessage[]): Promise<void> {
    const results = await Promise.all(
      batch.map((m) =>
        this.ackMode ? this.write(envelope(m), false) : this.write(m.body, m.binary),
      ),
    );
    const written = batch.filter((_, i) => results[i]).map((m) => m.id);
    const unwritten = batch.filter((_, i) => !results[i]).map((m) => m.id);
    const toRelease = [...unwritten];
    if (this.ackMode) {
      // Closed meanwhile: onClose already released the in-flight set; these too.
      if (this.state === 'live') for (const id of written) this.inFlight.add(id);
      else toRelease.push(...written);
    } else if (written.length) {
      await this.deps.store.remove(this.inbox, written);
    }
    if (toRelease.length) {
      await this.deps.store.release(this.inbox, toRelease);
      // Leaving with messages unwritten: another socket of the owner may be online.
      if (this.state !== 'live') await this.deps.hub.notifyStored(this.inbox);
    }
  }

  private write(data: Uint8Array | string, binary: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.ws.readyState !== this.ws.OPEN) {
        // Resolve later, never synchronously (LiveSink contract).
        setImmediate(resolve, false);
        return;
      }
      this.ws.send(data, { binary }, (err) => resolve(!err));
    });
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.drainWait = null;
        resolve();
      }, DRAIN_POLL_MS);
      this.drainWait = { timer, resolve };
    });
  }

  private sendPendingLive(): void {
    const pending = this.pendingLive;
    this.pendingLive = [];
    this.pendingBytes = 0;
    for (const { msg, done } of pending) {
      if (this.state === 'live') void this.write(msg.body, msg.binary).then(done);
      else setImmediate(done, false);
    }
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.handshakeTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.drainWait) {
      clearTimeout(this.drainWait.timer);
      this.drainWait.resolve();
      this.drainWait = null;
    }
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.inFlight.size > 0) {
      // Unacknowledged: available to the next session at once.
      const ids = [...this.inFlight];
      this.inFlight.clear();
      this.deps.store
        .release(this.inbox, ids)
        // Another socket of the owner may be online: let it take them now.
        .then(() => this.deps.hub.notifyStored(this.inbox))
        .catch(() => {
          // the lease runs out by itself
        });
    }
    if (!this.flushing) this.sendPendingLive();
  }
}
