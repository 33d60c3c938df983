/**
 * One owner WebSocket: the handshake (PROTOCOL.md §3.1), then delivery. What
 * each mode does (legacy §3.2, ack §3.3) lives in delivery/modes.ts; this
 * class runs the handshake, the flush loop (lease a batch, write it corked,
 * settle it) and the live path, the same for both modes.
 *
 * States: `handshake` -> `live` -> `closed`. While a flush runs (and while
 * the hub subscription is being made), a live message is held, and written
 * as soon as the flush ends, so live messages always follow the stored ones
 * and every socket of the owner gets every live message, even one that
 * another socket took at once. Held messages are bounded by the socket's
 * buffer limit (bytes held plus bytes buffered); past it they are refused, as
 * for a socket over that limit. A held message whose stored copy the flush
 * leases (the hub stored it when no socket wrote it in time) is written once,
 * in the flush's order.
 *
 * Bounded work per socket: handshake frames run one after another; while
 * QUEUE_PAUSE of them wait, the socket is paused (TCP backpressure on the
 * client); should a client still get MAX_QUEUED_FRAMES ahead (frames already
 * buffered), it is closed with 4029. A connection may ask
 * MAX_CHALLENGES_PER_SOCKET challenges; each one also counts against the
 * address's handshake limit. An ack acts only on ids in flight on this
 * socket (others cost nothing), and acks that arrive while a removal runs
 * join the next one: one store call at a time, whatever the frame rate.
 */
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { verifySolution } from '../auth/handshake.js';
import type { Challenge, ChallengeKeyring } from '../auth/keyring.js';
import { RelayError, errorBody, toRelayError } from '../errors.js';
import type { Hub, LiveMessage, LiveSink } from '../hub/hub.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Store, StoredMessage } from '../store/store.js';
import { AckDelivery, LegacyDelivery, type Delivery, type FrameWriter } from '../delivery/modes.js';
import { parseHandshakeFrame } from './frames.js';

/** Challenges one connection may hold at once; asking for more forgets the oldest. */
const MAX_CHALLENGES = 4;
/** Challenges one connection may ask in all; one more closes it with 4029. */
export const MAX_CHALLENGES_PER_SOCKET = 8;
/** Queued frames at which the socket is paused, and at which it is closed. */
const QUEUE_PAUSE = 4;
export const MAX_QUEUED_FRAMES = 64;
/** How long a socket we closed may take to answer the close frame before it is cut. */
export const CLOSE_GRACE_MS = 1000;
const DRAIN_POLL_MS = 50;
const FLUSH_RETRY_MS = 1000;
const SETTLED: Promise<void> = Promise.resolve();
const REFUSED: Promise<boolean> = Promise.resolve(false);

/** A live message that came during a flush, and who waits for its write. */
interface Held {
  msg: LiveMessage;
  written: (ok: boolean) => void;
  /** The hub stopped waiting for it (keepWrite): its live write is kept once made. */
  kept?: true;
}

/** Where a socket finds its OwnerSocket (set once, by the constructor). */
const OWNER = Symbol('npchat.ownerSocket');
type OwnedWebSocket = WebSocket & { [OWNER]: OwnerSocket };

const ownerOf = (ws: WebSocket) => (ws as OwnedWebSocket)[OWNER];
function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  ownerOf(this).handleMessage(data, isBinary);
}
function onClose(this: WebSocket, code: number): void {
  ownerOf(this).handleClose(code);
}
function onError(this: WebSocket, err: Error): void {
  ownerOf(this).handleError(err);
}
function onPong(this: WebSocket): void {
  ownerOf(this).alive = true;
}

export interface OwnerSocketDeps {
  keyring: ChallengeKeyring;
  store: Store;
  hub: Hub;
  logger: Logger;
  handshakeTimeoutMs: number;
  maxBufferedBytes: number;
  /** How long a flushed message stays leased: it becomes available again if we die. */
  leaseMs: number;
  ackWindow: number;
  limits: Limits;
  metrics: Metrics;
  maxSocketsPerInbox: number;
  /** Told once the socket has closed (the gateway forgets it). */
  closed?: (socket: OwnerSocket) => void;
}

export class OwnerSocket implements LiveSink, FrameWriter {
  state: 'handshake' | 'live' | 'closed' = 'handshake';
  /** Chosen by the handshake (legacy, or ack with `"ack": true`). */
  private delivery: Delivery | null = null;
  /** Challenges issued on this connection; dropped once the handshake is done. */
  private issued: Challenge[] | null = [];
  /** Until the handshake is done (then dropped: nothing kept per idle socket). */
  private handshakeTimer: NodeJS.Timeout | null;
  /** Subscribed to the hub (from the end of the handshake until closed). */
  private subscribed = false;
  private flushing = false;
  private flushAgain = false;
  /** Live messages that came while flushing, by id (made at the first one). */
  private held: Map<string, Held> | null = null;
  private heldBytes = 0;
  private drainWait: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Frames are handled one after another: handshake steps and acks are asynchronous. */
  private frames: Promise<void> = SETTLED;
  private queued = 0;
  private challenges = 0;
  /** Answered the last ping (the gateway's heartbeat reads and resets it). */
  alive = true;
  /** A heartbeat found the socket over the buffer limit. */
  overLimit = false;

  constructor(
    readonly ws: WebSocket,
    readonly inbox: string,
    private readonly deps: OwnerSocketDeps,
    /** The client's address key, for the per-address limits (never logged). */
    private readonly address = '',
    /** The connection under `ws`: corked while a batch is written, so it goes out in one write. */
    private readonly socket?: Pick<Duplex, 'cork' | 'uncork'>,
  ) {
    this.handshakeTimer = setTimeout(() => {
      this.fail(new RelayError('handshake_timeout'));
    }, deps.handshakeTimeoutMs);
    // Shared listeners that find this object on the socket: no closures kept
    // per socket (an idle socket's memory is most of what a relay holds).
    (ws as OwnedWebSocket)[OWNER] = this;
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
    ws.on('pong', onPong);
  }

  /** ws 'message' (via the shared listener). Nothing a client sends may throw out of it. */
  handleMessage(data: RawData, isBinary: boolean): void {
    try {
      this.onFrame(data, isBinary);
    } catch (err) {
      this.deps.logger.error({ err }, 'frame handler failed');
      this.close(new RelayError('internal'));
    }
  }

  /** ws 'close' (via the shared listener). */
  handleClose(code: number): void {
    this.deps.logger.debug({ code, state: this.state }, 'socket closed');
    this.onClose();
    this.deps.closed?.(this);
  }

  /** ws 'error' (via the shared listener). */
  handleError(err: Error): void {
    this.deps.logger.debug({ err: err.message }, 'socket error');
  }

  get ackMode(): boolean {
    return this.delivery?.ackMode ?? false;
  }

  /** Ends the session on an error (logged at debug for handshake failures). */
  fail(err: RelayError): void {
    if (this.state === 'closed') return;
    if (this.state === 'handshake') {
      this.deps.logger.debug({ reason: err.message, code: err.code }, 'handshake failed');
      this.deps.metrics.handshakes.inc({ result: err.code });
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
      if (this.state === 'handshake') {
        // An unauthenticated client that ignores the close frame is cut off
        // shortly after (an owner's socket gets ws's own closing timeout, as
        // its close frame may wait behind data it has not read yet).
        this.closeTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
        this.closeTimer.unref();
      }
    }
    this.onClose();
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.state === 'live') return this.delivery!.frame(data, isBinary);
    if (this.state !== 'handshake') return;
    if (++this.queued > MAX_QUEUED_FRAMES) {
      this.deps.metrics.rateLimited.inc({ limit: 'socket' });
      this.fail(
        new RelayError('rate_limited', 'Frames arrive faster than the relay acts on them.'),
      );
      return;
    }
    if (this.queued === QUEUE_PAUSE) this.ws.pause();
    this.frames = this.frames
      .then(() => this.handshakeFrame(data, isBinary))
      .catch((err: unknown) => {
        this.deps.logger.error({ err }, 'handshake frame failed');
        this.close(toRelayError(err));
      })
      .finally(() => {
        if (--this.queued === QUEUE_PAUSE - 1) this.ws.resume();
      });
  }

  private async handshakeFrame(data: RawData, isBinary: boolean): Promise<void> {
    if (this.state !== 'handshake') return;
    try {
      const frame = parseHandshakeFrame(data, isBinary);
      if (frame.kind === 'challenge') {
        if (++this.challenges > MAX_CHALLENGES_PER_SOCKET) {
          this.deps.metrics.rateLimited.inc({ limit: 'challenge' });
          throw new RelayError('rate_limited', 'Too many challenges on this connection.');
        }
        // Both limits at once (on Redis, one round trip): failed handshakes first.
        const { limits } = this.deps;
        const [auth, asked] = await Promise.allSettled([
          limits.checkAuth(this.address),
          limits.challenge(this.address),
        ]);
        if (auth.status === 'rejected') throw auth.reason;
        if (asked.status === 'rejected') throw asked.reason;
        const challenge = await this.deps.keyring.issue(this.inbox);
        const issued = (this.issued ??= []);
        issued.push(challenge);
        if (issued.length > MAX_CHALLENGES) issued.shift();
        if (this.state === 'handshake') this.ws.send(JSON.stringify({ challenge }));
        return;
      }
      await verifySolution(
        {
          inboxId: this.inbox,
          keyring: this.deps.keyring,
          use: 'socket',
          issuedHere: (c) => this.issued?.some((i) => i.txt === c.txt && i.sig === c.sig) ?? false,
        },
        frame.solution,
      );
      const { store, ackWindow, leaseMs } = this.deps;
      this.delivery = frame.ack
        ? new AckDelivery(store, this.inbox, ackWindow, leaseMs, {
            removed: (n) => {
              this.deps.metrics.messages.inc({ event: 'acknowledged' }, n);
              this.deps.logger.debug({ n }, 'acknowledged');
              this.wake();
            },
            failed: (err) => {
              // Still stored: delivered again later, which ack mode allows (at least once).
              this.deps.logger.warn({ err: err.message }, 'ack not applied');
              this.wake();
            },
          })
        : new LegacyDelivery(store, this.inbox, leaseMs);
    } catch (err) {
      const relayErr = toRelayError(err);
      if (relayErr.code === 'internal') this.deps.logger.error({ err }, 'handshake step failed');
      if (relayErr.code === 'unauthorized') await this.deps.limits.authFailed(this.address);
      this.fail(relayErr);
      return;
    }
    if (this.state === 'handshake') await this.goLive();
  }

  private async goLive(): Promise<void> {
    // Counted and subscribed in one synchronous step (both hubs add the sink
    // before their first await), so concurrent handshakes cannot pass the cap.
    if (this.deps.hub.localCount(this.inbox) >= this.deps.maxSocketsPerInbox) {
      this.deps.metrics.rateLimited.inc({ limit: 'socket' });
      this.fail(new RelayError('too_many_sockets'));
      return;
    }
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.state = 'live';
    this.issued = null;
    // The handshake's frame chain is done with: no settled promise kept per idle socket.
    this.frames = SETTLED;
    // Subscribe before reading the store: a POST that finds no socket stores
    // the message and then wakes us, so nothing falls between the two (the
    // ordering argument is in hub/redis-hub.ts). 'handshake done' follows the
    // subscription, so from then on every relay can reach this socket; live
    // messages that arrive meanwhile wait, as during a flush, and so follow
    // both 'handshake done' and the stored messages.
    this.flushing = true;
    const mayHold = await this.deps.hub.subscribe(this.inbox, this);
    this.flushing = false;
    if (this.state !== 'live') {
      this.deps.hub.unsubscribe(this.inbox, this);
      return;
    }
    this.subscribed = true;
    this.ws.send('{"message":"handshake done"}');
    this.deps.metrics.handshakes.inc({ result: 'ok' });
    this.deps.logger.debug({ ack: this.ackMode }, 'handshake done');
    // Nothing was stored when the subscription was made, and nothing woke us
    // since: no flush (one store round trip less per connect on Redis), only
    // what was held meanwhile goes out. Otherwise, the first flush.
    if (mayHold || this.flushAgain) this.wake();
    else this.writeHeld();
  }

  deliver(msg: LiveMessage): Promise<boolean> {
    if (
      this.state !== 'live' ||
      this.ws.readyState !== this.ws.OPEN ||
      this.ws.bufferedAmount > this.deps.maxBufferedBytes
    ) {
      return REFUSED;
    }
    const write = this.flushing ? this.hold(msg) : this.delivery!.live(msg, this);
    if (!write) return REFUSED;
    return write.then((written) => {
      if (written) {
        this.deps.metrics.messages.inc({ event: 'delivered_live' });
        this.deps.metrics.deliverySeconds.observe('live', (Date.now() - msg.t) / 1000);
        this.deps.logger.debug('delivered live');
      }
      return written;
    });
  }

  keepWrite(id: string, write: Promise<boolean>): void {
    // Held: not written yet. If the flush writes its stored copy, the held
    // one is dropped (unhold); if the flush ends first, writeHeld keeps it.
    const held = this.held?.get(id);
    if (held) held.kept = true;
    else this.delivery?.keep(id, write);
  }

  /** Keeps a live message until the flush ends (null: refused, over the buffer limit or ack mode). */
  private hold(msg: LiveMessage): Promise<boolean> | null {
    const size = msg.body.length;
    if (
      this.delivery!.ackMode ||
      this.ws.bufferedAmount + this.heldBytes + size > this.deps.maxBufferedBytes
    ) {
      return null;
    }
    const held = (this.held ??= new Map());
    if (held.has(msg.id)) return null; // the same message offered twice: the first one is written
    this.heldBytes += size;
    return new Promise((written) => held.set(msg.id, { msg, written }));
  }

  /** The held message `id`, taken out of the hold (the flush writes its stored copy). */
  private unhold(id: string): Held | undefined {
    const h = this.held?.get(id);
    if (h) {
      this.held!.delete(id);
      this.heldBytes -= h.msg.body.length;
    }
    return h;
  }

  /** Writes what was held during the flush that just ended (corked: one write), in order. */
  private writeHeld(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    this.heldBytes = 0;
    const open = this.state === 'live' && this.ws.readyState === this.ws.OPEN;
    this.socket?.cork();
    for (const { msg, written, kept } of held.values()) {
      const write = open ? this.delivery!.live(msg, this) : null;
      if (write) {
        if (kept) this.delivery!.keep(msg.id, write);
        void write.then(written);
      } else {
        written(false);
      }
    }
    this.socket?.uncork();
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
        this.writeHeld();
        this.flushing = false;
        // A wake that came after the loop's last check (or while subscribing)
        // would otherwise be lost until the next heartbeat.
        if (this.flushAgain && !this.retryTimer) this.wake();
      });
  }

  private async flush(): Promise<void> {
    do {
      this.flushAgain = false;
      while (this.state === 'live' && this.ws.readyState === this.ws.OPEN) {
        if (this.ws.bufferedAmount > this.deps.maxBufferedBytes) {
          await this.drained();
          continue;
        }
        const delivery = this.delivery!;
        const room = delivery.room();
        if (room <= 0) break; // the next ack wakes us
        const batch = await delivery.lease(room);
        if (batch.length === 0) break;
        await this.sendStored(batch);
      }
    } while (this.flushAgain && this.state === 'live');
  }

  /** Writes a leased batch (corked: one write for the batch), then settles it by mode. */
  private async sendStored(batch: StoredMessage[]): Promise<void> {
    const delivery = this.delivery!;
    this.socket?.cork();
    const writes = batch.map((m) => {
      // Held live, and stored since (the hub gave up waiting, so nobody reads
      // the live answer): it goes out once, as this stored copy, counted as flushed.
      this.unhold(m.id)?.written(false);
      return delivery.write(m, this);
    });
    this.socket?.uncork();
    const results = await Promise.all(writes);
    const written = batch.filter((_, i) => results[i]).map((m) => m.id);
    const unwritten = batch.filter((_, i) => !results[i]).map((m) => m.id);
    const released = await delivery.settle(written, unwritten);
    if (written.length) {
      const now = Date.now();
      batch.forEach((m, i) => {
        if (results[i]) {
          this.deps.metrics.deliverySeconds.observe('stored', (now - m.t) / 1000);
        }
      });
      this.deps.metrics.messages.inc({ event: 'flushed' }, written.length);
      this.deps.logger.debug({ n: written.length }, 'delivered from store');
    }
    // Leaving with messages unwritten: another socket of the owner may be online.
    if (released > 0 && this.state !== 'live') await this.deps.hub.notifyStored(this.inbox);
  }

  writeFrame(data: Uint8Array | string, binary: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      // Later, never synchronously: a flush loop must yield to the socket's
      // 'close' event, or it would lease and release the same batch forever.
      if (this.ws.readyState !== this.ws.OPEN) return setImmediate(resolve, false);
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

  private onClose(): void {
    if (this.ws.readyState === this.ws.CLOSED && this.closeTimer) clearTimeout(this.closeTimer);
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.drainWait) {
      clearTimeout(this.drainWait.timer);
      this.drainWait.resolve();
      this.drainWait = null;
    }
    if (this.subscribed) this.deps.hub.unsubscribe(this.inbox, this);
    this.subscribed = false;
    this.writeHeld(); // refuses them all: the socket is gone
    // Unacknowledged (ack mode): available to the next session at once, and
    // another socket of the owner may be online: let it take them now.
    this.delivery
      ?.end()
      .then((released) => (released > 0 ? this.deps.hub.notifyStored(this.inbox) : undefined))
      .catch(() => {
        // the lease runs out by itself
      });
  }
}
