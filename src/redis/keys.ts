/**
 * Every Redis key and channel the relay uses, built in one place, with its
 * lifetime. P is the prefix (NPCHAT_REDIS_PREFIX), I an inbox id. Every key of
 * an inbox carries the hash tag `{I}`, so all of them live in one Redis
 * Cluster slot and one Lua script may touch any of them atomically (the
 * store's scripts read the hub's presence and the owner's policy in the same
 * step as a reservation or an append).
 *
 * Message queue (store/redis-store.ts): expires one to two minutes after the
 * inbox's last message would, so an abandoned inbox leaves nothing behind.
 *   P{I}:seq      last message id taken; kept an hour after the last one
 *   P{I}:q        zset id -> id (order)
 *   P{I}:m        hash id -> payload (format 1, or 2 with the sender)
 *   P{I}:x        zset id -> expiresAt
 *   P{I}:l        zset id -> leasedUntil (as long as q)
 *   P{I}:b        bytes held (inbox quota)
 *   P{I}:k:H      Idempotency-Key (H = b64url SHA-256 of the key): pending
 *                 10 s, answered until its message expires
 * Live routing (hub/redis-hub.ts):
 *   P{I}:p        hash node id -> presence expiry; 60 s, refreshed every 20 s
 *   P node:{N}    pub/sub channel of relay node N (sharded on a Cluster)
 * Owner state (owner/redis.ts): prekeys, policy, card and data belong to the
 * owner, not to the queue, and do not expire: the owner replaces them.
 *   P tok:H       session token hash H -> inbox id; expires with the session
 *   P{I}:once:K   single-use mark: login challenge (until it expires) or
 *                 signed-post replay guard (twice the clock window, 600 s)
 *   P{I}:kb       key bundle (JSON); P{I}:kp list of one-time prekeys (JSON)
 *   P{I}:policy, P{I}:shareable, P{I}:data   owner blobs (JSON)
 * Elsewhere:
 *   P ckey:K      a relay's challenge public key K (auth/keyring.ts), until
 *                 the last challenge it signed has expired
 *   P rl:NAME...  rate limiter counters (limits.ts, rate-limiter-flexible),
 *                 expiring with their window
 */

/** `P{I}:name`: the key `name` of inbox I. */
export function inboxKey(prefix: string, inbox: string, name: string): string {
  return `${prefix}{${inbox}}:${name}`;
}

/** A SCAN pattern matching the queue key (`P{I}:q`) of every inbox. */
export function queueScanPattern(prefix: string): string {
  return `${prefix}{*}:q`;
}

/** `P{I}:q`: the inbox's queue (a zset of message ids; gone when the inbox is empty). */
export function queueKey(prefix: string, inbox: string): string {
  return inboxKey(prefix, inbox, 'q');
}

/** `P{I}:p`: the relay nodes holding an authenticated socket of the inbox. */
export function presenceKey(prefix: string, inbox: string): string {
  return inboxKey(prefix, inbox, 'p');
}

/** `P node:{N}`: the channel relay node N listens on. */
export function nodeChannel(prefix: string, nodeId: string): string {
  return `${prefix}node:{${nodeId}}`;
}

/** `P tok:H`: an owner session token, by the hash of the token. */
export function tokenKey(prefix: string, hash: string): string {
  return `${prefix}tok:${hash}`;
}

/** `P ckey:K`: a challenge public key shared by the relays. */
export function challengeKeyKey(prefix: string, keyId: string): string {
  return `${prefix}ckey:${keyId}`;
}

/** The key prefix of one rate limiter's counters. */
export function rateLimitPrefix(prefix: string, name: string): string {
  return `${prefix}rl:${name}`;
}

/** The node ids of a presence hash (flat HGETALL reply) whose presence has not expired. */
export function liveNodes(flat: readonly string[], now = Date.now()): string[] {
  const nodes: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (Number(flat[i + 1]) > now) nodes.push(flat[i]!);
  }
  return nodes;
}
