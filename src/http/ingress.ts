/**
 * POST /{id} (PROTOCOL.md §2): validate, then hand the message to the live
 * sockets of the inbox or, when none takes it, to the store. The answer is
 * the same whether the owner is online, offline or unknown.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RelayError } from '../errors.js';
import type { Hub, LiveMessage } from '../hub/hub.js';
import type { MessageIds } from '../store/message-ids.js';
import type { Store } from '../store/store.js';
import { readBody } from './body.js';
import { sendJson } from './respond.js';

export interface IngressDeps {
  store: Store;
  hub: Hub;
  ids: MessageIds;
  msgTtlMs: number;
  maxMessageBytes: number;
}

/** The Idempotency-Key header (1-64 printable ASCII characters), if any. */
function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const header = req.headers['idempotency-key'];
  if (header === undefined) return undefined;
  if (Array.isArray(header) || !/^[\x20-\x7e]{1,64}$/.test(header)) {
    throw new RelayError('invalid_idempotency_key');
  }
  return header;
}

/** The sender's TTL header in ms, clamped to the relay's msgTtl. */
function ttlOf(req: IncomingMessage, msgTtlMs: number): number {
  const header = req.headers.ttl;
  if (header === undefined) return msgTtlMs;
  if (Array.isArray(header) || !/^\d{1,10}$/.test(header.trim())) {
    throw new RelayError('invalid_ttl');
  }
  return Math.min(Number(header.trim()) * 1000, msgTtlMs);
}

export async function handlePost(
  req: IncomingMessage,
  res: ServerResponse,
  inbox: string,
  url: URL,
  deps: IngressDeps,
): Promise<void> {
  const ttlMs = ttlOf(req, deps.msgTtlMs);
  const idempotencyKey = idempotencyKeyOf(req);
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const binary = contentType === 'application/octet-stream';
  const body = await readBody(req, deps.maxMessageBytes);
  if (body.length === 0) throw new RelayError('invalid_body', 'The message body is empty.');
  if (!binary && !isUtf8(body)) {
    throw new RelayError(
      'invalid_body',
      'The message body is not valid UTF-8; send binary data with Content-Type: application/octet-stream.',
    );
  }
  // RFC 8030: TTL 0 means "deliver now or never", like ?store=false.
  const store = url.searchParams.get('store') !== 'false' && ttlMs > 0;
  if (idempotencyKey !== undefined) {
    const prior = await deps.store.recall(inbox, idempotencyKey);
    if (prior) return sendJson(res, 200, { message: 'sent', id: prior.id, t: prior.t });
  }
  const msg: LiveMessage = { id: deps.ids.next(), body, binary, t: Date.now(), ttlMs, store };
  const live = await deps.hub.publish(inbox, msg).catch((err: unknown) => {
    throw err instanceof RelayError ? err : new RelayError('unavailable');
  });
  let answer = { id: msg.id, t: msg.t };
  if (live) {
    if (idempotencyKey !== undefined && ttlMs > 0) {
      // Delivered already: a failed note only means a retry could deliver it twice.
      await deps.store.remember(inbox, idempotencyKey, answer, ttlMs).catch(() => {});
    }
  } else if (store) {
    const stored = await deps.store.append(
      inbox,
      { body, binary, t: msg.t, ttlMs },
      idempotencyKey,
    );
    answer = { id: stored.id, t: stored.t };
    // Stored is stored: a failed wake only delays delivery to the next flush.
    if (!stored.duplicate) await deps.hub.notifyStored(inbox).catch(() => {});
  }
  sendJson(res, 200, { message: 'sent', ...answer });
}
