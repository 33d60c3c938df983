import { request } from 'node:http';
import { expect } from 'vitest';
import { WebSocket, type RawData } from 'ws';
import { encodeB64url } from '../../src/client/b64url.js';
import { solveChallenge, type OwnerKeys } from '../../src/client/keys.js';

export interface Frame {
  text: string;
  binary: boolean;
  data: Buffer;
}

/** A raw WebSocket with a queue of received frames and a promise of its close. */
export class TestSocket {
  readonly ws: WebSocket;
  private readonly frames: Frame[] = [];
  private waiters: { resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
  private isClosed = false;
  private listener: ((f: Frame) => void) | null = null;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data: RawData, binary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      const frame = { text: buf.toString(), binary, data: buf };
      if (this.listener) return this.listener(frame);
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(frame);
      else this.frames.push(frame);
    });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`unexpected response ${res.statusCode}`)),
      );
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.isClosed = true;
        for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed (${code})`));
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** The next frame; rejects after `ms`, or at once when the socket closed with none left. */
  next(ms = 5000): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.isClosed) return Promise.reject(new Error('socket closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error('no frame in time'));
      }, ms);
      const waiter = {
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * Hands every frame to `cb` from now on, starting with those already
   * received and not read (a raw ws 'message' listener would miss those).
   */
  listen(cb: (f: Frame) => void): void {
    this.listener = cb;
    for (const f of this.frames.splice(0)) cb(f);
  }

  async nextJson(ms?: number): Promise<Record<string, unknown>> {
    return JSON.parse((await this.next(ms)).text) as Record<string, unknown>;
  }

  /** Frames received so far and not yet read. */
  get buffered(): number {
    return this.frames.length;
  }

  send(data: unknown): void {
    this.ws.send(typeof data === 'string' ? data : JSON.stringify(data));
  }

  async challenge(): Promise<{ txt: string; sig: string }> {
    this.send({ get: 'challenge' });
    const msg = await this.nextJson();
    return msg.challenge as { txt: string; sig: string };
  }

  close(): void {
    this.ws.close();
  }
}

export function solutionFor(keys: OwnerKeys, challenge: { txt: string; sig: string }) {
  return {
    publicKey: encodeB64url(keys.publicKey),
    challenge,
    solution: solveChallenge(keys, challenge.txt),
  };
}

/** Opens a socket to the inbox of `keys` and completes the handshake (in ack mode if asked). */
export async function authedSocket(
  wsUrl: string,
  keys: OwnerKeys,
  { ack = false }: { ack?: boolean } = {},
): Promise<TestSocket> {
  const s = new TestSocket(`${wsUrl}/${keys.id}`);
  await s.opened;
  const challenge = await s.challenge();
  s.send({ ...solutionFor(keys, challenge), ...(ack ? { ack: true } : {}) });
  const done = await s.nextJson();
  if (done.message !== 'handshake done')
    throw new Error(`handshake failed: ${JSON.stringify(done)}`);
  return s;
}

/** Waits until `check()` is true, polling, or throws after `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function postText(
  url: string,
  id: string,
  body: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${url}/${id}`, { method: 'POST', body, headers });
  return {
    status: res.status,
    json: (await res.json()) as Record<string, unknown>,
    headers: res.headers,
  };
}

/**
 * A POST whose headers may repeat: each value of an array goes out as a line
 * of its own (fetch would join them into one).
 */
export function postRepeated(
  url: string,
  id: string,
  body: string,
  headers: Record<string, string | string[]>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/${id}`, { method: 'POST' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const [name, value] of Object.entries(headers)) req.setHeader(name, value);
    req.end(body);
  });
}

/**
 * Posts a marker and expects it as the socket's very next frame: proves
 * nothing else was stored or queued for the socket before it.
 */
export async function expectNothingBefore(
  url: string,
  s: TestSocket,
  keys: OwnerKeys,
): Promise<void> {
  const marker = `marker-${Math.random()}`;
  await postText(url, keys.id, marker);
  expect((await s.next()).text).toBe(marker);
}
