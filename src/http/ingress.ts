/**
 * POST /{id} (PROTOCOL.md §2): limit, validate, take the message's id, then
 * hand the message to the live sockets of the inbox or, when none wrote it,
 * to the store. `200` only once it was written to a socket or stored; the
 * answer (status, fields, headers) is the same whether the owner is online,
 * offline or unknown, and the id comes from one sequence per inbox whichever
 * path the message took.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RelayError, toRelayError } from '../errors.js';
import type { Hub, LiveMessage } from '../hub/hub.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Store, StoredOrReserved } from '../store/store.js';
import type { OwnerState } from '../owner/state.js';
import { readBody } from './body.js';
import { singleHeader } from './headers.js';
import {
  policyAllows,
  SIGNATURE_WINDOW_MS,
  verifySignedPost,
  type InboxPolicy,
  type VerifiedSender,
} from './signed.js';
import { sendJson, sendSent } from './respond.js';

export interface IngressDeps {
  store: Store;
  hub: Hub;
  limits: Limits;
  metrics: Metrics;
  logger: Logger;
  msgTtlMs: number;
  maxMessageBytes: number;
  bodyMinRate: number;
  owner: OwnerState;
}

/** The Idempotency-Key header (1-64 printable ASCII characters, once), if any. */
function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const header = singleHeader(req, 'idempotency-key', 'invalid_idempotency_key', 'Idempotency-Key');
  if (header === undefined) return undefined;
  if (!/^[\x20-\x7e]{1,64}$/.test(header)) throw new RelayError('invalid_idempotency_key');
  return header;
}

/** The sender's TTL header in ms, clamped to the relay's msgTtl. */
function ttlOf(req: IncomingMessage, msgTtlMs: number): number {
  const header = singleHeader(req, 'ttl', 'invalid_ttl', 'TTL');
  if (header === undefined) return msgTtlMs;
  if (!/^\d{1,10}$/.test(header.trim())) throw new RelayError('invalid_ttl');
  return Math.min(Number(header.trim()) * 1000, msgTtlMs);
}

/** The owner's policy (JSON text; null: none) lets this post in (403 refused otherwise). */
function admit(policy: string | null, sender: VerifiedSender | null): void {
  if (policy === null) return;
  if (!policyAllows(JSON.parse(policy) as InboxPolicy, sender?.from)) {
    throw new RelayError('refused');
  }
}

/**
 * An unsigned post that may be stored, to an inbox with no socket here: the
 * store reserves and, if no other relay has a socket either and the inbox
 * has no policy, stores it in the same step (one round trip on Redis).
 * Otherwise the reservation lets the POST go on as usual.
 */
async function reserveOrStore(
  inbox: string,
  body: Buffer,
  binary: boolean,
  ttlMs: number,
  key: string | undefined,
  deps: IngressDeps,
): Promise<StoredOrReserved> {
  let result: StoredOrReserved;
  try {
    result = await deps.store.reserveOrStore(inbox, { body, binary, t: Date.now(), ttlMs }, key);
  } catch (err) {
    // Nothing was reserved or stored: there is no key or mark to release.
    const code = err instanceof RelayError ? err.code : 'unavailable';
    deps.logger.debug({ code }, 'post refused');
    if (code === 'inbox_full') deps.metrics.messages.inc({ event: 'refused_quota' });
    // As after a failed append: whatever went wrong, the sender may retry (503).
    throw err instanceof RelayError ? err : new RelayError('unavailable');
  }
  if (result.stored) {
    deps.metrics.messages.inc({ event: 'stored' });
    // No relay had a socket of the inbox when it was stored; one that opened
    // here since then is woken (its flush may have run before the store).
    await deps.hub.notifyStored(inbox, []).catch(() => {});
  }
  return result;
}

export async function handlePost(
  req: IncomingMessage,
  res: ServerResponse,
  inbox: string,
  query: URLSearchParams,
  address: string,
  deps: IngressDeps,
): Promise<void> {
  const ttlMs = ttlOf(req, deps.msgTtlMs);
  const key = idempotencyKeyOf(req);
  if (deps.limits.postLimited) {
    await Promise.all([deps.limits.post(address), deps.limits.inbox(inbox)]);
  }
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const binary = contentType === 'application/octet-stream';
  // RFC 8030: TTL 0 means "deliver now or never", like ?store=false.
  const store = query.get('store') !== 'false' && ttlMs > 0;
  // A body this process will likely store is read onto memory of its own
  // (ownBytes then has nothing to copy); one likely to go out live, if it came
  // in pieces, is joined on a slice of a shared slab, cheaper to allocate and
  // to collect. A body in one piece is that piece either way.
  const own = store && deps.store.holdsBodies && deps.hub.localCount(inbox) === 0;
  const body = await readBody(req, deps.maxMessageBytes, deps.bodyMinRate, own);
  if (body.length === 0) throw new RelayError('invalid_body', 'The message body is empty.');
  if (!binary && !isUtf8(body)) {
    throw new RelayError(
      'invalid_body',
      'The message body is not valid UTF-8; send binary data with Content-Type: application/octet-stream.',
    );
  }
  const sender = verifySignedPost(req, inbox, body);
  const reserved: StoredOrReserved =
    store && sender === null && deps.hub.localCount(inbox) === 0
      ? await reserveOrStore(inbox, body, binary, ttlMs, key, deps)
      : await deps.store.reserve(inbox, key);
  if (reserved.stored) {
    deps.logger.debug({ outcome: 'stored', bytes: body.length }, 'post');
    return sendSent(res, reserved.stored.id, reserved.stored.t);
  }
  if (reserved.prior) {
    deps.logger.debug('post: repeated idempotency key, first answer returned');
    return sendJson(res, 200, { message: 'sent', ...reserved.prior });
  }
  const msg: LiveMessage = { id: reserved.id, body, binary, t: Date.now(), ttlMs };
  if (sender) msg.from = sender.from;
  let guarded = false;
  let outcome: string;
  try {
    // Both stores fold the policy into the reservation; a store that does not leaves it to us.
    admit(
      reserved.policy !== undefined ? reserved.policy : await deps.owner.blobs.get(inbox, 'policy'),
      sender,
    );
    if (sender) {
      // Across every relay of the deployment, for as long as the time stays acceptable.
      if (!(await deps.owner.once.first(inbox, `r:${sender.guard}`, 2 * SIGNATURE_WINDOW_MS))) {
        throw new RelayError('replayed');
      }
      guarded = true;
    }
    if (await deps.hub.publish(inbox, msg, reserved.present)) {
      outcome = 'delivered live';
    } else if (store) {
      const appended = await deps.store.append(inbox, msg, key);
      deps.metrics.messages.inc({ event: 'stored' });
      // Stored is stored: a failed wake only delays delivery to the next flush.
      await deps.hub.notifyStored(inbox, appended.present).catch(() => {});
      outcome = 'stored';
    } else {
      outcome = 'dropped: nobody online and store=false';
    }
  } catch (err) {
    const code = err instanceof RelayError ? err.code : 'unavailable';
    deps.logger.debug({ code }, 'post refused');
    if (code === 'inbox_full') deps.metrics.messages.inc({ event: 'refused_quota' });
    // A retry may try again: release the key (it also expires by itself), and
    // the replay mark of a signed post that was not accepted.
    if (key !== undefined) await deps.store.forget(inbox, key, msg.id).catch(() => {});
    if (guarded) await deps.owner.once.forget(inbox, `r:${sender!.guard}`).catch(() => {});
    throw err instanceof RelayError ? err : new RelayError('unavailable');
  }
  if (key !== undefined && outcome !== 'stored') {
    // A failed note only means a retry after the pending mark expires could deliver twice.
    const settle =
      ttlMs > 0
        ? deps.store.commit(inbox, key, { id: msg.id, t: msg.t }, ttlMs)
        : deps.store.forget(inbox, key, msg.id);
    await settle.catch(() => {});
  }
  deps.logger.debug({ outcome, bytes: body.length }, 'post');
  sendSent(res, msg.id, msg.t);
}

/** POST /{id} (handlePost's arguments), counted and timed by result. */
export function countedPost(...args: Parameters<typeof handlePost>): Promise<void> {
  const metrics = args[5].metrics;
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  // A promise chain rather than an async wrapper: one turn and one frame less per POST.
  return handlePost(...args).then(
    () => metrics.posts.observe('sent', seconds()),
    (err: unknown) => {
      metrics.posts.observe(toRelayError(err).code, seconds());
      throw err;
    },
  );
}
