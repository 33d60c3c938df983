/** Posting a message to an inbox (PROTOCOL.md §2), with fetch; signed posts (§2.1). */
import { signPost, type OwnerKeys } from './keys.js';

export interface PostOptions {
  /** Lifetime wish in seconds (TTL header); the relay clamps it to its msgTtl. */
  ttl?: number;
  /** false: deliver only to live sockets, never store (`?store=false`). */
  store?: boolean;
  /** Sign the post with these keys (Npchat-From/Time/Signature): the owner sees `from`. */
  sign?: OwnerKeys;
  fetch?: typeof fetch;
}

export interface PostResult {
  id: string;
  t: number;
}

/** A relay's error answer: `code` is the catalog's stable code. */
export class RelayRequestError extends Error {
  override name = 'RelayRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds to wait before trying again, when the relay said (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The Retry-After header in seconds (undefined when absent or not a number of seconds). */
export function retryAfterOf(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Posts `body` to `inboxUrl` (`http(s)://relay/{id}`); binary bodies go as octet-stream. */
export async function post(
  inboxUrl: string,
  body: string | Uint8Array,
  options: PostOptions = {},
): Promise<PostResult> {
  const url = new URL(inboxUrl);
  if (options.store === false) url.searchParams.set('store', 'false');
  const headers: Record<string, string> = {
    'Content-Type':
      typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
  };
  if (options.ttl !== undefined) headers.TTL = String(options.ttl);
  if (options.sign) {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const inboxId = url.pathname.split('/').filter(Boolean).pop() ?? '';
    Object.assign(headers, signPost(options.sign, inboxId, bytes));
  }
  const res = await (options.fetch ?? fetch)(url, {
    method: 'POST',
    headers,
    body: body as BodyInit,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) {
    throw new RelayRequestError(
      res.status,
      typeof json.error === 'string' ? json.error : 'http_error',
      typeof json.message === 'string' ? json.message : `HTTP ${res.status}`,
      retryAfterOf(res),
    );
  }
  if (typeof json.id !== 'string' || typeof json.t !== 'number') {
    throw new RelayRequestError(res.status, 'bad_response', 'The relay answered without an id.');
  }
  return { id: json.id, t: json.t };
}
