/**
 * The WebSocket gateway: upgrades `GET /{id}`, runs one OwnerSocket per socket,
 * pings every `heartbeat` seconds (terminating sockets that missed the
 * previous pong), re-flushes the store for every live session (unless the
 * hub re-checks the store itself: Redis), and closes slow consumers that
 * stay over the buffer limit for two heartbeats in a row (4008).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex, Writable } from 'node:stream';
import { WebSocketServer } from 'ws';
import { RelayError, errorBody } from '../errors.js';
import type { Logger } from '../logger.js';
import { CORS_HEADERS } from '../http/respond.js';
import { SlicedPass } from '../sliced.js';
import { OwnerSocket, type OwnerSocketDeps } from './owner-socket.js';

export interface GatewayOptions extends OwnerSocketDeps {
  heartbeatMs: number;
  maxMessageBytes: number;
}

/** Answers an upgrade request on the raw socket with a catalog error and closes it. */
export function refuseUpgrade(socket: Duplex, err: RelayError): void {
  const body = errorBody(err);
  const headers = {
    ...CORS_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...err.headers,
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${err.status} ${err.code}\r\n${head}\r\n${body}`);
}

/**
 * Sockets a heartbeat handles per turn of the event loop. A ping is a write
 * (14-26 µs each measured here): 100,000 sockets in one turn would stall
 * every other client for seconds; 200 per turn keep a turn to a few ms.
 */
export const HEARTBEAT_SLICE = 200;

/** Most fragments of one client message (close 1008 above it). */
export const MAX_FRAGMENTS = 64;
/** Most socket reads one client frame may arrive in (close 1008 above it). */
export const MAX_FRAME_READS = 4096;

/**
 * `end()` for the streams under a WebSocket: a plain call on a stream whose
 * writing has finished does nothing. Node's own would do nothing either but
 * first build an ERR_STREAM_ALREADY_FINISHED error with a stack trace, and
 * throw it away. `ws` makes up to three such calls on every close that
 * completes the closing handshake (its socket 'end' and 'close' listeners
 * end the frame receiver, which ended itself on the close frame, and the
 * socket, which it ended after sending its own close frame): ~37 µs of a
 * ~900 µs handshake-and-close in a profile, the largest item after the
 * cryptography and the kernel. Any other call (data, a callback, a stream
 * still writing) goes to the stream's own `end()`.
 */
function endUnlessFinished(this: Writable, ...args: unknown[]): Writable {
  if (args.length === 0 && this.writableFinished) return this;
  const own = Object.getPrototypeOf(this) as { end: (...a: unknown[]) => Writable };
  return own.end.apply(this, args);
}

/** Gives `stream` endUnlessFinished in place of its prototype's `end()`. */
function quietEnd(stream: Writable | Duplex | null | undefined): void {
  if (stream) (stream as { end: unknown }).end = endUnlessFinished;
}

export class Gateway {
  private readonly wss: WebSocketServer;
  readonly sessions = new Set<OwnerSocket>();
  private readonly timer: NodeJS.Timeout;
  /** The heartbeat's pass through the sessions. */
  private readonly beating: SlicedPass;
  private readonly logger: Logger;

  /** One deps object for every session (not a copy per socket). */
  private readonly sessionDeps: OwnerSocketDeps;

  constructor(private readonly options: GatewayOptions) {
    this.logger = options.logger.child({ component: 'gateway' });
    this.sessionDeps = {
      ...options,
      logger: this.logger,
      closed: (session) => this.sessions.delete(session),
    };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      // Every piece is a Buffer object (~100 bytes) however small: ws's
      // defaults (16,384 fragments, 262,144 reads) let one socket hold
      // megabytes for a few KiB sent. Clients send small frames, whole.
      maxFragments: MAX_FRAGMENTS,
      maxBufferedChunks: MAX_FRAME_READS,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.beating = new SlicedPass(
      () => this.beatSteps(),
      HEARTBEAT_SLICE,
      (err) => this.logger.error({ err }, 'heartbeat failed'),
    );
    this.timer = setInterval(() => this.beat(), options.heartbeatMs);
    this.timer.unref();
  }

  /** `address` is the client's address key, for the per-address limits. */
  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    inbox: string,
    address: string,
  ): void {
    quietEnd(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // ws's frame receiver (an internal of ws 8: absent, nothing is changed).
      quietEnd((ws as unknown as { _receiver?: Writable })._receiver);
      const session = new OwnerSocket(ws, inbox, this.sessionDeps, address, socket);
      this.sessions.add(session);
    });
  }

  /**
   * A heartbeat, HEARTBEAT_SLICE sockets per turn of the event loop (the
   * Set's iterator skips sessions that end meanwhile). A beat still going
   * when the next is due carries on; the next one is skipped (a second pass
   * right behind it would terminate sockets whose pong has not come yet).
   * One socket's failure must not stop the others' (nor escape the timer).
   */
  private beat(): void {
    this.beating.start();
  }

  private *beatSteps(): Generator<number, void, undefined> {
    for (const session of this.sessions) {
      try {
        this.beatOne(session);
      } catch (err) {
        this.logger.error({ err }, 'heartbeat failed for a socket');
        session.ws.terminate();
      }
      yield 1;
    }
  }

  private beatOne(session: OwnerSocket): void {
    const ws = session.ws;
    // Over the limit, or no pong while data still waits: our ping is stuck
    // behind the unread data, so a missing pong proves nothing here. Two
    // heartbeats in a row like that: a slow consumer (4008).
    const backedUp =
      ws.bufferedAmount > this.options.maxBufferedBytes ||
      (!session.alive && ws.bufferedAmount > 0);
    if (backedUp) {
      if (session.overLimit) session.fail(new RelayError('slow_consumer'));
      session.overLimit = true;
      return;
    }
    session.overLimit = false;
    if (!session.alive) {
      this.logger.debug('heartbeat missed: terminating socket');
      ws.terminate();
      return;
    }
    session.alive = false;
    ws.ping();
    // Re-check the store, unless the hub does it for every inbox (Redis: it
    // covers wakes lost in an outage and leases a dead relay left behind).
    if (!this.options.hub.rechecksStore) session.wake();
  }

  /** Open sockets by mode: handshake (not authenticated yet), legacy, ack. */
  socketModes(): Record<string, number> {
    const counts: Record<string, number> = { handshake: 0, legacy: 0, ack: 0 };
    for (const s of this.sessions) {
      if (s.state === 'handshake') counts.handshake!++;
      else if (s.state === 'live') counts[s.ackMode ? 'ack' : 'legacy']!++;
    }
    return counts;
  }

  /** Closes every socket with 1001 going_away. */
  closeAll(): void {
    for (const session of this.sessions) session.close(new RelayError('going_away'));
  }

  /** Stops the heartbeat (a beat in progress too) and terminates what is still open. */
  close(): void {
    clearInterval(this.timer);
    this.beating.stop();
    for (const session of this.sessions) session.ws.terminate();
    this.sessions.clear();
    this.wss.close();
  }
}
