/**
 * The owner HTTP API (PROTOCOL.md §4) for clients without a WebSocket:
 * challenge login to a session token, fetch (long-poll) and ack, prekey
 * bundles, contact card and private data. Node 20+ and browsers (fetch).
 */
import { encodeB64url } from './b64url.js';
import { solveChallenge, type OwnerKeys } from './keys.js';
import { RelayRequestError, retryAfterOf } from './post.js';

export interface InboxPolicy {
  requireSignature: boolean;
  acceptFrom: string[] | null;
}

export interface FetchedMessage {
  id: string;
  t: number;
  /** Inbox id of the sender, for a verified signed post. */
  from?: string;
  /** The message: text, or bytes when `binary`. */
  data: string | Uint8Array;
  binary: boolean;
}

export interface PreKey {
  keyId: number;
  publicKey: string;
}

export interface KeyBundle {
  identityKey: string;
  signedPreKey: PreKey & { signature: string };
  preKeys?: PreKey[];
}

export interface HandedBundle extends Omit<KeyBundle, 'preKeys'> {
  /** The one-time prekey handed to this caller alone; null when none are left. */
  preKey: PreKey | null;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

async function call(
  f: typeof fetch,
  url: string,
  init: { method?: string; token?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<unknown> {
  const res = await f(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // reported below when the status is an error
  }
  if (!res.ok) {
    const err = (json ?? {}) as Record<string, unknown>;
    throw new RelayRequestError(
      res.status,
      typeof err.error === 'string' ? err.error : 'http_error',
      typeof err.message === 'string' ? err.message : `HTTP ${res.status}`,
      retryAfterOf(res),
    );
  }
  return json;
}

function fromB64url(s: string): Uint8Array {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Reads anyone's key bundle, taking one one-time prekey (X3DH's first step). */
export async function fetchKeyBundle(
  relayUrl: string,
  id: string,
  f: typeof fetch = fetch,
): Promise<HandedBundle> {
  return (await call(f, `${relayUrl.replace(/\/$/, '')}/${id}/keys`)) as HandedBundle;
}

/** Reads anyone's public contact card. */
export async function fetchShareable(
  relayUrl: string,
  id: string,
  f: typeof fetch = fetch,
): Promise<unknown> {
  return call(f, `${relayUrl.replace(/\/$/, '')}/${id}/shareable`);
}

/** An owner's session with a relay: every call sends its bearer token. */
export class OwnerSession {
  private constructor(
    readonly base: string,
    readonly token: string,
    readonly expiresAt: number,
    private readonly f: typeof fetch,
  ) {}

  /** Logs in: asks a challenge, signs it with the owner key, trades it for a token. */
  static async login(
    relayUrl: string,
    keys: OwnerKeys,
    f: typeof fetch = fetch,
  ): Promise<OwnerSession> {
    const base = `${relayUrl.replace(/\/$/, '')}/${keys.id}`;
    const { challenge } = (await call(f, `${base}/challenge`)) as {
      challenge: { txt: string; sig: string };
    };
    const answer = (await call(f, `${base}/session`, {
      method: 'POST',
      body: {
        publicKey: encodeB64url(keys.publicKey),
        challenge,
        solution: solveChallenge(keys, challenge.txt),
      },
    })) as { token: string; expiresAt: number };
    return new OwnerSession(base, answer.token, answer.expiresAt, f);
  }

  private req(path: string, init: Parameters<typeof call>[2] = {}) {
    return call(this.f, `${this.base}${path}`, { ...init, token: this.token });
  }

  /**
   * One step of a fetch loop: `fetch`, except that when the relay answers
   * `rate_limited` (fetches count per inbox), it waits the answer's
   * Retry-After (1 s if none) and returns no messages, so the loop goes on.
   */
  async poll(
    options: { wait?: number; limit?: number; signal?: AbortSignal } = {},
  ): Promise<FetchedMessage[]> {
    try {
      return await this.fetch(options);
    } catch (err) {
      if (!(err instanceof RelayRequestError) || err.code !== 'rate_limited') throw err;
      await pause((err.retryAfter ?? 1) * 1000, options.signal);
      return [];
    }
  }

  /** Messages not yet acknowledged (oldest first); `wait` seconds long-polls (at most 60). */
  async fetch(
    options: { wait?: number; limit?: number; signal?: AbortSignal } = {},
  ): Promise<FetchedMessage[]> {
    const q = new URLSearchParams();
    if (options.wait !== undefined) q.set('wait', String(options.wait));
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    const qs = q.toString();
    const { messages } = (await this.req(`/messages${qs ? `?${qs}` : ''}`, {
      ...(options.signal ? { signal: options.signal } : {}),
    })) as {
      messages: { id: string; t: number; data: string; binary?: boolean; from?: string }[];
    };
    return messages.map((m) => ({
      id: m.id,
      t: m.t,
      binary: m.binary === true,
      data: m.binary ? fromB64url(m.data) : m.data,
      ...(m.from !== undefined ? { from: m.from } : {}),
    }));
  }

  /** Deletes handled messages; resolves with how many were deleted. */
  async ack(ids: readonly string[]): Promise<number> {
    return ((await this.req('/ack', { method: 'POST', body: { ids } })) as { deleted: number })
      .deleted;
  }

  /**
   * Every message, forever (long-polls): each one is acknowledged when the
   * loop asks for the next, so a message whose handling threw comes again.
   */
  async *messages(options: { wait?: number; signal?: AbortSignal } = {}) {
    while (!options.signal?.aborted) {
      const batch = await this.poll({ wait: options.wait ?? 30, signal: options.signal });
      for (const m of batch) {
        yield m;
        await this.ack([m.id]);
      }
    }
  }

  async logout(): Promise<void> {
    await this.req('/session', { method: 'DELETE' });
  }

  /** Replaces the key bundle (identity key, signed prekey, one-time prekeys). */
  async putKeys(bundle: KeyBundle): Promise<number> {
    return ((await this.req('/keys', { method: 'PUT', body: bundle })) as { preKeys: number })
      .preKeys;
  }

  /** Adds one-time prekeys; resolves with how many the relay holds now. */
  async addPreKeys(preKeys: PreKey[]): Promise<number> {
    const answer = await this.req('/keys/prekeys', { method: 'POST', body: { preKeys } });
    return (answer as { preKeys: number }).preKeys;
  }

  async countPreKeys(): Promise<number> {
    return ((await this.req('/keys/count')) as { count: number }).count;
  }

  /** Who may post: only signed posts, and/or only these senders (inbox ids; null: anyone). */
  async putPolicy(policy: InboxPolicy): Promise<InboxPolicy> {
    return (await this.req('/policy', { method: 'PUT', body: policy })) as InboxPolicy;
  }

  async getPolicy(): Promise<InboxPolicy> {
    return (await this.req('/policy')) as InboxPolicy;
  }

  async putShareable(card: unknown): Promise<void> {
    await this.req('/shareable', { method: 'PUT', body: card });
  }

  async putData(data: unknown): Promise<void> {
    await this.req('/data', { method: 'PUT', body: data });
  }

  async getData(): Promise<unknown> {
    return this.req('/data');
  }
}
