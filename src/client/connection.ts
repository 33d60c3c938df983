/**
 * An owner's connection to its inbox (PROTOCOL.md §3): opens the WebSocket,
 * solves the challenge, then yields every message. Reconnects with
 * exponential backoff (and jitter) when the socket drops, except after an
 * authentication failure (4001), which ends the connection with an error.
 *
 * Works with the browser's WebSocket or any constructor of the same shape
 * (in Node 20: `import { WebSocket } from 'ws'`).
 *
 * Ack mode (`ack: true`, PROTOCOL.md §3.3): at-least-once delivery. A message
 * is acknowledged after it was handled: when the `for await` loop asks for
 * the next message, or when the `onMessage` handler's promise resolves. Ids
 * already handled (the relay sends unacknowledged messages again after a
 * reconnect) are acknowledged again and not yielded twice.
 */
import { decodeB64url, encodeB64url } from './b64url.js';
import { solveChallenge, type OwnerKeys } from './keys.js';

export interface WebSocketLike {
  binaryType: string;
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface RelayMessage {
  /** The posted body: a string for text posts, bytes for binary posts. */
  data: string | Uint8Array;
  binary: boolean;
  /** Ack mode: the message id (unique per inbox) and arrival time (ms). */
  id?: string;
  t?: number;
  /** Ack mode: the sender's inbox id, for a verified signed post. */
  from?: string;
}

export interface ConnectOptions {
  /** The relay's base URL (`http(s)://` or `ws(s)://`), without the inbox id. */
  url: string;
  keys: OwnerKeys;
  WebSocket?: WebSocketConstructor;
  /** Reconnect after a drop (default true). */
  reconnect?: boolean;
  /** Acknowledged delivery (default false: legacy mode). */
  ack?: boolean;
  /**
   * Handles each message instead of the async iterator; in ack mode the
   * message is acknowledged when the returned promise resolves (not if it rejects).
   */
  onMessage?: (msg: RelayMessage) => void | Promise<void>;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Each completed handshake (the first and every reconnect). */
  onOpen?: () => void;
  /** Each closed socket, with the relay's close code and error frame if any. */
  onClose?: (info: { code: number; reason: string; error?: string }) => void;
}

export class RelayConnectionError extends Error {
  override name = 'RelayConnectionError';
  constructor(
    readonly code: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

export function inboxSocketUrl(base: string, id: string): string {
  const url = new URL(base);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${id}`;
  return url.toString();
}

/** Ids remembered for deduplication (most recent). */
const SEEN_MAX = 10_000;

export class RelayConnection implements AsyncIterable<RelayMessage> {
  /** Resolves after the first handshake; rejects if the connection ends before it. */
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private socket: WebSocketLike | null = null;
  private readonly queue: RelayMessage[] = [];
  private waiter: {
    resolve: (r: IteratorResult<RelayMessage>) => void;
    reject: (e: Error) => void;
  } | null = null;
  private ended: { error?: Error } | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly Ctor: WebSocketConstructor;
  /** Ack mode: ids received ('pending' until handled, then 'done'); redeliveries are skipped. */
  private readonly seen = new Map<string, 'pending' | 'done'>();
  /** Ack mode: the id yielded last, acknowledged when the next one is asked for. */
  private yielded: string | null = null;
  private acks: string[] = [];
  private handling: Promise<void> = Promise.resolve();

  constructor(private readonly options: ConnectOptions) {
    const Ctor =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new Error('No WebSocket implementation: pass options.WebSocket');
    this.Ctor = Ctor;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.open();
  }

  private open(): void {
    const ws = new this.Ctor(inboxSocketUrl(this.options.url, this.options.keys.id));
    this.socket = ws;
    ws.binaryType = 'arraybuffer';
    let live = false;
    let error: { error?: string; message?: string } = {};
    ws.onopen = () => ws.send('{"get":"challenge"}');
    ws.onmessage = (ev) => {
      if (live) {
        if (this.options.ack) {
          this.onEnvelope(String(ev.data));
        } else {
          const binary = typeof ev.data !== 'string';
          this.push({
            data: binary ? new Uint8Array(ev.data as ArrayBuffer) : (ev.data as string),
            binary,
          });
        }
        return;
      }
      const msg = JSON.parse(String(ev.data)) as Record<string, unknown>;
      const challenge = msg.challenge as { txt: string; sig: string } | undefined;
      if (challenge) {
        ws.send(
          JSON.stringify({
            publicKey: encodeB64url(this.options.keys.publicKey),
            challenge,
            solution: solveChallenge(this.options.keys, challenge.txt),
            ...(this.options.ack ? { ack: true } : {}),
          }),
        );
      } else if (msg.message === 'handshake done') {
        live = true;
        this.attempt = 0;
        this.flushAcks();
        this.resolveReady();
        this.options.onOpen?.();
      } else if (typeof msg.error === 'string') {
        error = msg as typeof error;
      }
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      this.socket = null;
      this.options.onClose?.({ code: ev.code, reason: ev.reason, error: error.error });
      if (this.ended) return;
      if (ev.code === 4001) {
        this.end(
          new RelayConnectionError(
            ev.code,
            error.error ?? 'unauthorized',
            error.message ?? 'handshake refused',
          ),
        );
      } else if (this.options.reconnect === false) {
        this.end(
          live
            ? undefined
            : new RelayConnectionError(
                ev.code,
                error.error ?? 'closed',
                error.message ?? `closed with ${ev.code}`,
              ),
        );
      } else {
        this.scheduleReconnect();
      }
    };
  }

  private scheduleReconnect(): void {
    const min = this.options.minDelayMs ?? 500;
    const max = this.options.maxDelayMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.ended) this.open();
    }, delay);
  }

  private onEnvelope(text: string): void {
    let env: { id?: unknown; t?: unknown; data?: unknown; binary?: unknown; from?: unknown };
    try {
      env = JSON.parse(text) as typeof env;
    } catch {
      return; // not an envelope: ignore
    }
    if (typeof env.id !== 'string' || typeof env.data !== 'string') return;
    const id = env.id;
    const state = this.seen.get(id);
    if (state === 'done') this.ack(id); // handled before: its ack was lost, send it again
    if (state) return; // still waiting to be handled: acknowledged once it is
    this.seen.set(id, 'pending');
    if (this.seen.size > SEEN_MAX) this.seen.delete(this.seen.keys().next().value!);
    const binary = env.binary === true;
    const data = binary ? (decodeB64url(env.data) ?? new Uint8Array(0)) : env.data;
    const from = typeof env.from === 'string' ? { from: env.from } : {};
    this.push({ id, t: typeof env.t === 'number' ? env.t : 0, data, binary, ...from });
  }

  /** The message was handled: acknowledge it (and remember so). */
  private handled(id: string): void {
    this.seen.set(id, 'done');
    this.ack(id);
  }

  private ack(id: string): void {
    this.acks.push(id);
    if (this.acks.length === 1) queueMicrotask(() => this.flushAcks());
  }

  /** Sends the batched acks; if the socket is down they wait for the next session. */
  private flushAcks(): void {
    const ws = this.socket;
    if (this.acks.length === 0 || !ws || ws.readyState !== 1) return;
    ws.send(JSON.stringify({ ack: this.acks }));
    this.acks = [];
  }

  private push(msg: RelayMessage): void {
    const handler = this.options.onMessage;
    if (handler) {
      this.handling = this.handling.then(async () => {
        try {
          await handler(msg);
        } catch {
          // Not handled: not acknowledged, so the relay sends it again later.
          if (msg.id !== undefined) this.seen.delete(msg.id);
          return;
        }
        if (msg.id !== undefined) this.handled(msg.id);
      });
      return;
    }
    if (this.waiter) {
      if (msg.id !== undefined) this.yielded = msg.id;
      this.waiter.resolve({ value: msg, done: false });
      this.waiter = null;
    } else {
      this.queue.push(msg);
    }
  }

  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = { error };
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.rejectReady(error ?? new Error('connection closed'));
    if (this.waiter) {
      if (error) this.waiter.reject(error);
      else this.waiter.resolve({ value: undefined, done: true });
      this.waiter = null;
    }
  }

  /** Closes the socket and ends the message stream. */
  close(): void {
    this.end();
    this.socket?.close(1000);
  }

  [Symbol.asyncIterator](): AsyncIterator<RelayMessage> {
    return {
      next: () => {
        // Asking for the next message means the last one was handled.
        if (this.yielded !== null) {
          this.handled(this.yielded);
          this.yielded = null;
        }
        const msg = this.queue.shift();
        if (msg?.id !== undefined) this.yielded = msg.id;
        if (msg) return Promise.resolve({ value: msg, done: false });
        if (this.ended) {
          return this.ended.error
            ? Promise.reject(this.ended.error)
            : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Opens an owner connection; iterate it for messages. */
export function connect(options: ConnectOptions): RelayConnection {
  return new RelayConnection(options);
}
