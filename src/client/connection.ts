/**
 * An owner's connection to its inbox (PROTOCOL.md §3): opens the WebSocket,
 * solves the challenge, then yields every message. Reconnects with
 * exponential backoff (and jitter) when the socket drops, except after an
 * authentication failure (4001), which ends the connection with an error.
 *
 * Works with the browser's WebSocket or any constructor of the same shape
 * (in Node 20: `import { WebSocket } from 'ws'`).
 */
import { encodeB64url } from './b64url.js';
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
}

export interface ConnectOptions {
  /** The relay's base URL (`http(s)://` or `ws(s)://`), without the inbox id. */
  url: string;
  keys: OwnerKeys;
  WebSocket?: WebSocketConstructor;
  /** Reconnect after a drop (default true). */
  reconnect?: boolean;
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
        const binary = typeof ev.data !== 'string';
        this.push({
          data: binary ? new Uint8Array(ev.data as ArrayBuffer) : (ev.data as string),
          binary,
        });
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
          }),
        );
      } else if (msg.message === 'handshake done') {
        live = true;
        this.attempt = 0;
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

  private push(msg: RelayMessage): void {
    if (this.waiter) {
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
        const msg = this.queue.shift();
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
