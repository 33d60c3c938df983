/**
 * The error catalog (PROTOCOL.md §2, §3.4): one stable code per failure, with
 * its HTTP status, its WebSocket close code and a human sentence.
 */
export const CATALOG = {
  invalid_id: { status: 400, close: 4000, message: 'The path is not a valid inbox id.' },
  invalid_body: { status: 400, close: 4000, message: 'The message body is not acceptable.' },
  invalid_ttl: {
    status: 400,
    close: 4000,
    message: 'The TTL header must be a whole number of seconds.',
  },
  invalid_idempotency_key: {
    status: 400,
    close: 4000,
    message: 'The Idempotency-Key header must be 1 to 64 printable ASCII characters.',
  },
  upgrade_required: {
    status: 400,
    close: 4000,
    message: 'GET on an inbox opens a WebSocket: send an Upgrade request.',
  },
  not_found: { status: 404, close: 4000, message: 'There is nothing at this path.' },
  method_not_allowed: {
    status: 405,
    close: 4000,
    message: 'This method is not allowed on this path.',
  },
  too_large: { status: 413, close: 1009, message: 'The message is larger than the relay accepts.' },
  bad_request: { status: 400, close: 4000, message: 'The request could not be understood.' },
  request_timeout: {
    status: 408,
    close: 4000,
    message: 'The request did not arrive fast enough.',
  },
  unauthorized: { status: 401, close: 4001, message: 'The handshake check failed.' },
  bad_signature: {
    status: 401,
    close: 4001,
    message: 'The post signature does not verify.',
  },
  stale_signature: {
    status: 401,
    close: 4001,
    message: 'Npchat-Time is more than 300 seconds from the relay clock.',
  },
  replayed: { status: 409, close: 4000, message: 'This signed post was seen before.' },
  refused: {
    status: 403,
    close: 4003,
    message: "The inbox owner's policy does not accept this sender.",
  },
  forbidden: {
    status: 403,
    close: 4003,
    message: 'The token belongs to another inbox.',
  },
  too_many_prekeys: {
    status: 409,
    close: 4000,
    message: 'The inbox would hold more one-time prekeys than the relay allows.',
  },
  rate_limited: {
    status: 429,
    close: 4029,
    message: 'Too many requests from this address or to this inbox; retry later.',
  },
  too_many_sockets: {
    status: 429,
    close: 4029,
    message: 'This inbox has as many open sockets as the relay allows.',
  },
  inbox_full: {
    status: 507,
    close: 4000,
    message: 'The inbox holds its quota of messages or bytes; the owner must read some first.',
  },
  slow_consumer: { status: 503, close: 4008, message: 'The client does not read fast enough.' },
  handshake_timeout: {
    status: 408,
    close: 4408,
    message: 'No successful handshake in time.',
  },
  unavailable: { status: 503, close: 1013, message: 'The store cannot take the message now.' },
  going_away: { status: 503, close: 1001, message: 'The relay is shutting down; reconnect.' },
  internal: { status: 500, close: 1011, message: 'Internal error.' },
} as const;

export type ErrorCode = keyof typeof CATALOG;

/**
 * Every 429 and 503 says when to try again (RFC 6585 §4, RFC 9110 §10.2.3):
 * RelayError sets Retry-After on them, and the OpenAPI document says so.
 */
export function carriesRetryAfter(status: number): boolean {
  return status === 429 || status === 503;
}

export class RelayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly closeCode: number;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}) {
    super(message ?? CATALOG[code].message);
    this.name = 'RelayError';
    this.code = code;
    this.status = CATALOG[code].status;
    this.closeCode = CATALOG[code].close;
    // Callers may say better (the rate limits say when their window frees up).
    this.headers =
      carriesRetryAfter(this.status) && !('Retry-After' in headers)
        ? { ...headers, 'Retry-After': '1' }
        : headers;
  }
}

/** Any thrown value as a catalog error; unknown ones become `internal`. */
export function toRelayError(err: unknown): RelayError {
  return err instanceof RelayError ? err : new RelayError('internal');
}

/** The JSON body of an error answer or frame. */
export function errorBody(err: RelayError): string {
  return JSON.stringify({ error: err.code, message: err.message });
}
