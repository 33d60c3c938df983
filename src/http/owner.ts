/**
 * The owner HTTP API (PROTOCOL.md §4): challenge login to a session token,
 * fetch (long-poll) and ack, prekey bundles, contact card and private data.
 * Handlers only; the route table (api.ts) declares who may call them, their
 * limits and bodies.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isSolution, verifySolution } from '../auth/handshake.js';
import type { ChallengeKeyring } from '../auth/keyring.js';
import { decodeB64url } from '../client/b64url.js';
import { RelayError } from '../errors.js';
import type { Hub, LiveSink } from '../hub/hub.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../logger.js';
import type { BlobName, OwnerState, PreKey, SignedPreKey } from '../owner/state.js';
import type { Store, StoredMessage } from '../store/store.js';
import { AckWindow } from '../delivery/ack-window.js';
import { toEnvelope } from '../delivery/envelope.js';
import type { RequestContext } from './routes.js';
import { OPEN_POLICY, parsePolicy } from './signed.js';
import { sendJson, sendRawJson } from './respond.js';

export interface OwnerApiDeps {
  keyring: ChallengeKeyring;
  owner: OwnerState;
  store: Store;
  hub: Hub;
  limits: Limits;
  logger: Logger;
  sessionTtlMs: number;
  /** How long fetched messages stay leased (not fetched again) until acknowledged. */
  leaseMs: number;
  maxDataBytes: number;
  maxSocketsPerInbox: number;
  /** Long-polls waiting per inbox on this relay (bounded by maxSocketsPerInbox). */
  polls: Map<string, number>;
  /** Aborted when the relay shuts down: waiting long-polls answer at once. */
  shutdown: AbortSignal;
}

/** Longest long-poll (`wait`), seconds. */
export const MAX_WAIT_S = 60;
/** Most messages one fetch returns (`limit`), and ids one ack may name. */
export const MAX_FETCH = 1000;
export const DEFAULT_FETCH = 100;
/** One-time prekeys an inbox may hold, and per request. */
export const MAX_PREKEYS = 1000;
export const MAX_PREKEYS_PER_REQUEST = 200;
/** Longest key or signature string accepted (base64url characters). */
export const MAX_KEY_CHARS = 256;
/** While long-polling, look at the store this often even without a wake (lost wakes). */
const POLL_RECHECK_MS = 5000;

// ---- sessions ---------------------------------------------------------------

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** The inbox whose session the request's bearer token is, or 401/403. */
export async function authorize(
  req: IncomingMessage,
  inbox: string,
  owner: OwnerState,
): Promise<string> {
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_-]{43})$/.exec(header) : null;
  if (!m) {
    throw new RelayError('unauthorized', 'Send Authorization: Bearer <token> of an owner session.');
  }
  const holder = await owner.tokens.inboxOf(tokenHash(m[1]!));
  if (holder === null) {
    throw new RelayError('unauthorized', 'The token is unknown, revoked or expired.');
  }
  if (holder !== inbox) {
    throw new RelayError('forbidden', 'The token belongs to another inbox.');
  }
  return m[1]!;
}

export function challengeHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox }: RequestContext) => {
    const challenge = await deps.keyring.issue(inbox, 'session');
    sendJson(res, 200, { challenge });
  };
}

export function sessionHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox, address, body }: RequestContext) => {
    const msg = body as Record<string, unknown>;
    if (typeof msg !== 'object' || msg === null || !isSolution(msg)) {
      throw new RelayError(
        'invalid_body',
        'Send {"publicKey","challenge":{"txt","sig"},"solution"}, all strings.',
      );
    }
    await deps.limits.checkAuth(address);
    try {
      const expiresAt = await verifySolution(
        { inboxId: inbox, keyring: deps.keyring, use: 'session' },
        msg,
      );
      const ttl = Math.max(1, expiresAt - Date.now());
      // Single use across every relay of the deployment: marked until it expires anyway.
      if (!(await deps.owner.once.first(inbox, `c:${msg.challenge.txt}`, ttl))) {
        throw new RelayError('unauthorized', 'The challenge was already used.');
      }
    } catch (err) {
      if (err instanceof RelayError && err.code === 'unauthorized') {
        await deps.limits.authFailed(address);
      }
      throw err;
    }
    const token = randomBytes(32).toString('base64url');
    await deps.owner.tokens.save(tokenHash(token), inbox, deps.sessionTtlMs);
    deps.logger.debug('owner session opened');
    sendJson(res, 200, { token, expiresAt: Date.now() + deps.sessionTtlMs });
  };
}

export function revokeHandler(deps: OwnerApiDeps) {
  return async ({ req, res, inbox }: RequestContext) => {
    const token = await authorize(req, inbox, deps.owner);
    await deps.owner.tokens.revoke(tokenHash(token));
    sendJson(res, 200, { message: 'revoked' });
  };
}

// ---- fetch and ack ----------------------------------------------------------

function intParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,6}$/.test(raw) || Number(raw) > max) {
    throw new RelayError('bad_request', `${name} must be a whole number from 0 to ${max}.`);
  }
  return Number(raw);
}

export function fetchHandler(deps: OwnerApiDeps) {
  return async ({ req, res, inbox, query }: RequestContext) => {
    const waitMs = intParam(query, 'wait', 0, MAX_WAIT_S) * 1000;
    const limit = intParam(query, 'limit', DEFAULT_FETCH, MAX_FETCH);
    if (limit === 0) throw new RelayError('bad_request', `limit must be from 1 to ${MAX_FETCH}.`);
    let gone = false;
    let wake: (() => void) | null = null;
    const onGone = () => {
      gone = true;
      wake?.();
    };
    // Shutdown ends the wait, not the request: the client gets what there is.
    const onShutdown = () => wake?.();
    req.socket.once('close', onGone);
    deps.shutdown.addEventListener('abort', onShutdown);
    // The same unit as a WebSocket in ack mode, sized to this one answer.
    const window = new AckWindow(deps.store, inbox, limit, deps.leaseMs);
    let batch: StoredMessage[] = [];
    try {
      batch = await window.lease();
      if (batch.length === 0 && waitMs > 0 && !gone && !deps.shutdown.aborted) {
        batch = await longPoll(
          deps,
          inbox,
          window,
          waitMs,
          () => gone,
          (w) => (wake = w),
        );
      }
    } finally {
      req.socket.off('close', onGone);
      deps.shutdown.removeEventListener('abort', onShutdown);
    }
    await window.sent(batch.map((m) => m.id));
    // Gone before the answer: the messages are free for the next fetch at once.
    const release = () => void window.end().catch(() => {});
    if (gone) return release();
    // Written: the leases stay until acknowledged or run out; not written: released.
    res.once('close', () => (res.writableFinished ? window.handOver() : release()));
    sendJson(res, 200, { messages: batch.map(toEnvelope) });
  };
}

async function longPoll(
  deps: OwnerApiDeps,
  inbox: string,
  window: AckWindow,
  waitMs: number,
  isGone: () => boolean,
  setWake: (wake: () => void) => void,
): Promise<StoredMessage[]> {
  const { polls } = deps;
  const open = polls.get(inbox) ?? 0;
  if (open >= deps.maxSocketsPerInbox) throw new RelayError('too_many_sockets');
  polls.set(inbox, open + 1);
  let notify: () => void = () => {};
  // An ack-mode sink: every message for the inbox is stored, then we are woken.
  const sink: LiveSink = {
    ackMode: true,
    deliver: async () => false,
    keepWrite: () => {}, // it writes nothing live
    wake: () => notify(),
  };
  try {
    await deps.hub.subscribe(inbox, sink);
    const deadline = Date.now() + waitMs;
    for (;;) {
      // Subscribed first, then read: a message stored after this read wakes us.
      const batch = await window.lease();
      const left = deadline - Date.now();
      if (batch.length > 0 || left <= 0 || isGone() || deps.shutdown.aborted) return batch;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, POLL_RECHECK_MS));
        notify = () => {
          clearTimeout(timer);
          resolve();
        };
        setWake(notify);
      });
    }
  } finally {
    deps.hub.unsubscribe(inbox, sink);
    const left = (polls.get(inbox) ?? 1) - 1;
    if (left <= 0) polls.delete(inbox);
    else polls.set(inbox, left);
  }
}

export function ackHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox, body }: RequestContext) => {
    const ids = (body as { ids?: unknown } | null)?.ids;
    if (
      !Array.isArray(ids) ||
      ids.length > MAX_FETCH ||
      !ids.every((id) => typeof id === 'string' && /^\d{1,20}$/.test(id))
    ) {
      throw new RelayError(
        'invalid_body',
        `Send {"ids":[…]}: at most ${MAX_FETCH} message ids (strings of digits).`,
      );
    }
    const deleted = await deps.store.remove(inbox, ids as string[]);
    sendJson(res, 200, { deleted });
  };
}

// ---- prekeys ----------------------------------------------------------------

function keyString(value: unknown, what: string): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_KEY_CHARS ||
    !decodeB64url(value)
  ) {
    throw new RelayError(
      'invalid_body',
      `${what} must be base64url (no padding) of at most ${MAX_KEY_CHARS} characters.`,
    );
  }
  return value;
}

function keyId(value: unknown, what: string): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) {
    throw new RelayError('invalid_body', `${what} must be a whole number from 0 to 4294967295.`);
  }
  return value as number;
}

function preKeyList(value: unknown, max: number): PreKey[] {
  if (!Array.isArray(value) || value.length > max) {
    throw new RelayError('invalid_body', `preKeys must be a list of at most ${max} prekeys.`);
  }
  return value.map((k: unknown, i) => {
    const o = (typeof k === 'object' && k !== null ? k : {}) as Record<string, unknown>;
    return {
      keyId: keyId(o.keyId, `preKeys[${i}].keyId`),
      publicKey: keyString(o.publicKey, `preKeys[${i}].publicKey`),
    };
  });
}

export function putKeysHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox, body }: RequestContext) => {
    const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const spk = (
      typeof o.signedPreKey === 'object' && o.signedPreKey !== null ? o.signedPreKey : {}
    ) as Record<string, unknown>;
    const signedPreKey: SignedPreKey = {
      keyId: keyId(spk.keyId, 'signedPreKey.keyId'),
      publicKey: keyString(spk.publicKey, 'signedPreKey.publicKey'),
      signature: keyString(spk.signature, 'signedPreKey.signature'),
    };
    const identityKey = keyString(o.identityKey, 'identityKey');
    const preKeys = preKeyList(o.preKeys ?? [], MAX_PREKEYS_PER_REQUEST);
    await deps.owner.prekeys.put(inbox, { identityKey, signedPreKey }, preKeys);
    sendJson(res, 200, { preKeys: preKeys.length });
  };
}

export function addPrekeysHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox, body }: RequestContext) => {
    const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const preKeys = preKeyList(o.preKeys, MAX_PREKEYS_PER_REQUEST);
    const held = await deps.owner.prekeys.add(inbox, preKeys, MAX_PREKEYS);
    sendJson(res, 200, { preKeys: held });
  };
}

export function takeKeysHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox }: RequestContext) => {
    const bundle = await deps.owner.prekeys.take(inbox);
    if (!bundle) throw new RelayError('not_found', 'This inbox has published no key bundle.');
    sendJson(res, 200, bundle);
  };
}

export function countKeysHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox }: RequestContext) => {
    sendJson(res, 200, { count: await deps.owner.prekeys.count(inbox) });
  };
}

// ---- contact card and private data -------------------------------------------

export function putBlobHandler(deps: OwnerApiDeps, name: BlobName) {
  return async ({ res, inbox, body }: RequestContext) => {
    await deps.owner.blobs.put(inbox, name, JSON.stringify(body));
    sendJson(res, 200, { message: 'saved' });
  };
}

export function getBlobHandler(deps: OwnerApiDeps, name: BlobName) {
  return async ({ res, inbox }: RequestContext) => {
    const text = await deps.owner.blobs.get(inbox, name);
    if (text === null) throw new RelayError('not_found', `This inbox has no ${name} yet.`);
    sendRawJson(res, text);
  };
}

// ---- inbox policy (§2.1) ------------------------------------------------------

export function putPolicyHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox, body }: RequestContext) => {
    const policy = parsePolicy(body);
    await deps.owner.blobs.put(inbox, 'policy', JSON.stringify(policy));
    sendJson(res, 200, policy);
  };
}

export function getPolicyHandler(deps: OwnerApiDeps) {
  return async ({ res, inbox }: RequestContext) => {
    const text = await deps.owner.blobs.get(inbox, 'policy');
    sendJson(res, 200, text === null ? OPEN_POLICY : (JSON.parse(text) as unknown));
  };
}
