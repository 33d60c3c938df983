/**
 * The scale-out store: one inbox's queue in Redis, every key of an inbox
 * hash-tagged `{inbox}` so that it lives in one Redis Cluster slot and the
 * Lua scripts below run atomically on one node.
 *
 * Keys (P = prefix, I = inbox id; every key family of the relay, with its
 * lifetime, is listed in redis/keys.ts):
 *   P{I}:seq  last message id taken (string; kept SEQ_SLACK_MS after the last
 *             reservation; ids also never go below the clock in microseconds)
 *   P{I}:q    zset  message id -> id           (order)
 *   P{I}:m    hash  message id -> payload: format 1 "t:expiresAt:binary:" .. body
 *             (t and expiresAt are 13-digit ms, so the header is HEADER_BYTES
 *             long); format 2, for a signed post, starts with the version mark
 *             "~2:" and adds the sender: "~2:t:expiresAt:binary:from:" .. body
 *             (FROM_BYTES longer). Unsigned posts keep format 1, which every
 *             relay version reads; new fields get a new version mark.
 *   P{I}:x    zset  message id -> expiresAt    (expiry index)
 *   P{I}:l    zset  message id -> leasedUntil  (leases)
 *   P{I}:b    sum of the stored bodies' bytes  (inbox quota)
 *   P{I}:p    the hub's presence hash (redis-hub.ts), read by RESERVE, APPEND and
 *             RESERVE_OR_STORE
 *   P{I}:policy  the owner's inbox policy (owner/redis.ts), read by RESERVE and
 *             RESERVE_OR_STORE
 *   P{I}:k:H  idempotency key H (base64url SHA-256 of the key): "id:t:expiresAt"
 *             once answered (expiring with that message), "p:id" while pending
 * Every queue key expires one to two minutes after the inbox's last message
 * (STORE), so an abandoned inbox leaves nothing behind; expired messages are
 * trimmed on every append and skipped (and deleted) by every lease.
 *
 * A full Redis (maxmemory with noeviction): appends and reservations are
 * refused (503), but LEASE, REMOVE and release run with the `allow-oom` flag
 * (Redis 7+), since they only delete or re-score existing members, so owners
 * keep receiving and acknowledging, which is what frees memory.
 */
import { createHash } from 'node:crypto';
import { RelayError } from '../errors.js';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/connect.js';
import { inboxKey, liveNodes, presenceKey, queueKey, queueScanPattern } from '../redis/keys.js';
import { defineScript, Joined, type Script } from '../redis/script.js';
import {
  inboxFull,
  inProgress,
  LEASE_SCAN,
  PENDING_MS,
  UNLIMITED,
  type Answer,
  type Appended,
  type InboxQuota,
  type NewMessage,
  type Reservation,
  type Store,
  type StoredOrReserved,
  type StoredMessage,
} from './store.js';

/** Ids stay monotonic while the seq key lives (and by the clock after). */
const SEQ_SLACK_MS = 3_600_000;
const COUNT_CACHE_MS = 10_000;
const COUNT_MAX_KEYS = 10_000;
/** "ttttttttttttt:eeeeeeeeeeeee:b:" before every stored body. */
const HEADER_BYTES = 30;
/** What format 2 adds to the header: "~2:" and the 43-character sender id with its ":". */
const FROM_BYTES = 3 + 44;

// Deletes the given message ids from every index and the byte count, in
// chunks (Lua's unpack has a stack limit).
const DROP = `
local function drop(q, m, x, l, b, ids)
  local n = 0
  local bytes = 0
  for i = 1, #ids, 500 do
    local chunk = { unpack(ids, i, math.min(i + 499, #ids)) }
    for _, id in ipairs(chunk) do
      local len = redis.call('HSTRLEN', m, id)
      if len > 0 then bytes = bytes + len - ${HEADER_BYTES} end
    end
    n = n + redis.call('ZREM', q, unpack(chunk))
    redis.call('HDEL', m, unpack(chunk))
    redis.call('ZREM', x, unpack(chunk))
    redis.call('ZREM', l, unpack(chunk))
  end
  if bytes > 0 and redis.call('DECRBY', b, bytes) <= 0 then redis.call('DEL', b) end
  return n
end
`;

// Removes up to 500 expired messages of the inbox. (The hot scripts hand
// Redis strings, not Lua numbers: Redis prints every number argument with
// "%.17g", and those conversions were a fifth of a POST's cost in Redis.)
const TRIM = `${DROP}
local function trim(q, m, x, l, b, now)
  drop(q, m, x, l, b, redis.call('ZRANGEBYSCORE', x, '-inf', now, 'LIMIT', '0', '500'))
end
`;

// Takes the inbox's next id: above the last one, and never below the clock in µs.
const NEXT_ID = `
local function next_id(seq, now)
  local last = tonumber(redis.call('GET', seq) or '0')
  local sid = string.format('%d', math.max(last + 1, now * 1000))
  redis.call('SET', seq, sid, 'PX', '${SEQ_SLACK_MS}')
  return sid
end
`;

// An earlier request's answer under the idempotency key, { 'done', id, t } or
// { 'busy' } while it is pending; nil when there is none. Then the next id,
// the key marked pending with it.
const RESERVE_ID = `${NEXT_ID}
local function prior_answer(idem)
  local prior = redis.call('GET', idem)
  if not prior then return nil end
  local pid, pt = string.match(prior, '^(%d+):(%d+):')
  if pid then return { 'done', pid, pt } end
  return { 'busy' }
end
local function reserve_id(seq, idem, nowMs, useKey)
  local sid = next_id(seq, nowMs)
  if useKey == '1' then redis.call('SET', idem, 'p:' .. sid, 'PX', ${PENDING_MS}) end
  return sid
end
`;

// -> { 'new', id, presence, policy or false } | { 'done', id, t } | { 'busy' }
// (presence: the hub's presence hash of the inbox, HGETALL; policy: the owner's
// inbox policy (owner/redis.ts); both read in the same step, saving round trips)
const RESERVE = {
  name: 'npchatReserve',
  keys: ['seq', 'idem', 'presence', 'policy'],
  args: ['now', 'useKey'],
  lua: `${RESERVE_ID}
if useKey == '1' then
  local prior = prior_answer(idem)
  if prior then return prior end
end
local sid = reserve_id(seq, idem, tonumber(now), useKey)
return { 'new', sid, redis.call('HGETALL', presence), redis.call('GET', policy) }
`,
} as const;

// Stores one message (trimming expired ones first, then the inbox quota):
// -> { 'ok', id, expiresAt } | { 'full' }. `sid` '' takes the next id (next_id
// must be defined before). The caller gives the payload (header and body, as
// parsePayload reads it), the bytes the message is charged (its body, and a
// signed post's longer header) and expiresAt, all as text.
//
// Every key of the inbox outlives its latest message by at least a minute.
// Setting the five expiries (and reading the latest) took six of a store's
// seventeen Redis calls, so they are set with two minutes to spare and set
// again only when the queue's own expiry no longer covers the new message by
// a minute, or when the queue or the byte count has just been made (a key
// made now has no expiry). The five are always set together, so the queue's
// expiry stands for all of them (the lease set gets the queue's expiry
// whenever a lease writes it).
const STORE = `${TRIM}
local function store(seq, q, m, x, l, b, idem, sid, now, nowMs, t, texp, payload, size, useKey, maxMessages, maxBytes)
  trim(q, m, x, l, b, now)
  local count = redis.call('ZCARD', q)
  if count >= tonumber(maxMessages) then return { 'full' } end
  local bytes = redis.call('INCRBY', b, size)
  if bytes > tonumber(maxBytes) then
    if redis.call('DECRBY', b, size) <= 0 then redis.call('DEL', b) end
    return { 'full' }
  end
  if sid == '' then sid = next_id(seq, nowMs) end
  redis.call('ZADD', q, sid, sid)
  redis.call('HSET', m, sid, payload)
  redis.call('ZADD', x, texp, sid)
  local expiresAt = tonumber(texp)
  if count == 0 or bytes == tonumber(size)
    or redis.call('PTTL', q) < expiresAt - nowMs + 60000 then
    local latest = tonumber(redis.call('ZRANGE', x, '-1', '-1', 'WITHSCORES')[2])
    local keep = string.format('%d', math.max(latest - nowMs, 1) + 120000)
    for _, key in ipairs({ q, m, x, l, b }) do redis.call('PEXPIRE', key, keep) end
  end
  if useKey == '1' then
    local px = string.format('%d', math.max(expiresAt - nowMs, 1))
    redis.call('SET', idem, sid .. ':' .. t .. ':' .. texp, 'PX', px)
  end
  return { 'ok', sid, texp }
end
`;

// -> { 'ok', id, expiresAt, presence } | { 'done', id, t, expiresAt } | { 'busy' } | { 'full' }
// (presence read after the append, in the same step: see the ordering argument in redis-hub.ts)
const APPEND = {
  name: 'npchatAppend',
  keys: ['seq', 'q', 'm', 'x', 'l', 'b', 'idem', 'presence'],
  args: ['now', 'id', 't', 'expiresAt', 'payload', 'size', 'useKey', 'maxMessages', 'maxBytes'],
  lua: `${NEXT_ID}${STORE}
local nowMs = tonumber(now)
if useKey == '1' then
  local prior = redis.call('GET', idem)
  if prior and prior ~= 'p:' .. id then
    local pid, pt, pexp = string.match(prior, '^(%d+):(%d+):(%d+)$')
    if pid then return { 'done', pid, pt, pexp } end
    return { 'busy' }
  end
end
local r = store(seq, q, m, x, l, b, idem, id, now, nowMs, t, expiresAt, payload, size, useKey, maxMessages, maxBytes)
if r[1] == 'ok' then r[4] = redis.call('HGETALL', presence) end
return r
`,
} as const;

// RESERVE and, when nothing can take the message live, STORE in the same step:
// no live presence (another relay with a socket of the inbox; the caller has
// none) and no inbox policy to judge the post by (unsigned posts only).
// -> { 'stored', id, expiresAt } | { 'full' } | what RESERVE answers
// (presence: read in the same step as the append, so the ordering argument in
// redis-hub.ts holds with no wake to send: nobody was there to wake.)
const RESERVE_OR_STORE = {
  name: 'npchatReserveOrStore',
  keys: ['seq', 'q', 'm', 'x', 'l', 'b', 'idem', 'presence', 'policy'],
  args: ['now', 't', 'expiresAt', 'payload', 'size', 'useKey', 'maxMessages', 'maxBytes'],
  lua: `${RESERVE_ID}${STORE}
local nowMs = tonumber(now)
if useKey == '1' then
  local prior = prior_answer(idem)
  if prior then return prior end
end
local owner = redis.call('GET', policy)
local nodes = redis.call('HGETALL', presence)
local alone = not owner
for i = 2, #nodes, 2 do
  if tonumber(nodes[i]) > nowMs then alone = false end
end
if alone then
  local r = store(seq, q, m, x, l, b, idem, '', now, nowMs, t, expiresAt, payload, size, useKey, maxMessages, maxBytes)
  if r[1] == 'ok' then r[1] = 'stored' end
  return r
end
return { 'new', reserve_id(seq, idem, nowMs, useKey), nodes, owner }
`,
} as const;

// Deletes the idempotency key if it is still this request's reservation.
const FORGET = {
  name: 'npchatForget',
  keys: ['idem'],
  args: ['id'],
  lua: `
if redis.call('GET', idem) == 'p:' .. id then redis.call('DEL', idem) end
return 0
`,
} as const;

// -> { expired, id1, payload1, id2, payload2, ... }
// Runs on a full Redis: it only deletes and re-scores existing members.
const LEASE = {
  name: 'npchatLease',
  keys: ['q', 'm', 'x', 'l', 'b'],
  args: ['now', 'max', 'leaseMs'],
  lua: `#!lua flags=allow-oom
${TRIM}
local nowMs = tonumber(now)
local most = tonumber(max)
local untilMs = string.format('%d', nowMs + tonumber(leaseMs))
trim(q, m, x, l, b, now)
local out = {}
local expired = {}
local offset = 0
-- At most ${LEASE_SCAN} messages looked at, 100 at a time, their lease and
-- expiry read in one call each (ZMSCORE: false for a member not there).
while #out < 2 * most and offset < ${LEASE_SCAN} do
  local ids = redis.call('ZRANGE', q, offset, math.min(offset + 99, ${LEASE_SCAN} - 1))
  if #ids == 0 then break end
  local leases = redis.call('ZMSCORE', l, unpack(ids))
  local expiries = redis.call('ZMSCORE', x, unpack(ids))
  for i, mid in ipairs(ids) do
    local leased = tonumber(leases[i]) or 0
    if leased <= nowMs then
      local exp = tonumber(expiries[i]) or 0
      if exp <= nowMs then
        expired[#expired + 1] = mid
      else
        local payload = redis.call('HGET', m, mid)
        if payload then
          redis.call('ZADD', l, untilMs, mid)
          out[#out + 1] = mid
          out[#out + 1] = payload
          if #out >= 2 * most then break end
        end
      end
    end
  end
  offset = offset + 100
end
local dropped = drop(q, m, x, l, b, expired)
if #out > 0 then
  -- the lease set lives exactly as long as the queue it belongs to
  local ttl = redis.call('PTTL', q)
  if ttl > 0 then redis.call('PEXPIRE', l, ttl) end
end
table.insert(out, 1, dropped)
return out
`,
} as const;

// rest: message ids -> removed count. Runs on a full Redis.
const REMOVE = {
  name: 'npchatRemove',
  keys: ['q', 'm', 'x', 'l', 'b'],
  args: [],
  lua: `#!lua flags=allow-oom
${DROP}
return drop(q, m, x, l, b, ARGV)
`,
} as const;

// rest: message ids whose leases end now. Runs on a full Redis.
const RELEASE = {
  name: 'npchatRelease',
  keys: ['l'],
  args: [],
  lua: `#!lua flags=allow-oom
for i = 1, #ARGV, 500 do
  redis.call('ZREM', l, unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return 0
`,
} as const;

type ScriptOf<S extends { keys: readonly string[]; args: readonly string[] }> = Script<
  S['keys'][number],
  S['args'][number]
>;

/** A time in ms (an integer) as the payload header writes it: at least 13 digits. */
function pad13(ms: number): string {
  return String(ms).padStart(13, '0');
}

/** Reads a stored payload of format 1 or 2 (see the key list above). */
export function parsePayload(id: string, payload: Buffer): StoredMessage {
  const v2 = payload[0] === 0x7e; // "~2:"
  let pos = v2 ? 3 : 0;
  const fields: string[] = [];
  for (let i = 0; i < (v2 ? 4 : 3); i++) {
    const end = payload.indexOf(0x3a, pos);
    fields.push(payload.subarray(pos, end).toString());
    pos = end + 1;
  }
  const [t, expiresAt, binary] = fields.map(Number) as [number, number, number];
  const msg: StoredMessage = {
    id,
    t,
    expiresAt,
    ttlMs: expiresAt - t,
    binary: binary === 1,
    body: payload.subarray(pos),
  };
  if (v2) msg.from = fields[3]!;
  return msg;
}

/**
 * Any Redis failure becomes `unavailable` (503): the caller must not promise
 * anything. A full Redis (OOM) asks senders to wait longer than a blip.
 */
function unavailable(err: unknown): never {
  const full = /^OOM/.test((err as Error).message ?? '');
  throw new RelayError(
    'unavailable',
    full ? 'The store is full; retry later.' : 'The store cannot take the request now.',
    { 'Retry-After': full ? '10' : '1' },
  );
}

export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly holdsBodies = false;
  private readonly reserveScript: ScriptOf<typeof RESERVE>;
  private readonly appendScript: ScriptOf<typeof APPEND>;
  private readonly reserveOrStoreScript: ScriptOf<typeof RESERVE_OR_STORE>;
  private readonly forgetScript: ScriptOf<typeof FORGET>;
  private readonly leaseScript: ScriptOf<typeof LEASE>;
  private readonly removeScript: ScriptOf<typeof REMOVE>;
  private readonly releaseScript: ScriptOf<typeof RELEASE>;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly quota: InboxQuota = UNLIMITED,
    private readonly onExpired: (n: number) => void = () => {},
    /** The clock the store's scripts judge expiry and leases by (tests move it). */
    private readonly now: () => number = Date.now,
  ) {
    this.reserveScript = defineScript(redis, RESERVE);
    this.appendScript = defineScript(redis, APPEND);
    this.reserveOrStoreScript = defineScript(redis, RESERVE_OR_STORE);
    this.forgetScript = defineScript(redis, FORGET);
    this.leaseScript = defineScript(redis, LEASE);
    this.removeScript = defineScript(redis, REMOVE);
    this.releaseScript = defineScript(redis, RELEASE);
  }

  private key(inbox: string, name: string): string {
    return inboxKey(this.prefix, inbox, name);
  }

  private queueKeys(inbox: string): Record<'q' | 'm' | 'x' | 'l' | 'b', string> {
    const k = (n: string) => this.key(inbox, n);
    return { q: queueKey(this.prefix, inbox), m: k('m'), x: k('x'), l: k('l'), b: k('b') };
  }

  /**
   * The Redis key of an idempotency key. Without one, the scripts still take
   * a key (useKey 0: never read or written): `k:`, a name no hashed key has,
   * so a POST without a key costs no hash.
   */
  private idempotencyKey(inbox: string, key: string | undefined): string {
    if (key === undefined) return this.key(inbox, 'k:');
    return this.key(inbox, `k:${createHash('sha256').update(key).digest('base64url')}`);
  }

  async reserve(inbox: string, idempotencyKey?: string): Promise<Reservation> {
    const [state, id, third, policy] = (await this.reserveScript(
      {
        seq: this.key(inbox, 'seq'),
        idem: this.idempotencyKey(inbox, idempotencyKey),
        presence: presenceKey(this.prefix, inbox),
        policy: this.key(inbox, 'policy'),
      },
      { now: this.now(), useKey: idempotencyKey === undefined ? 0 : 1 },
    ).catch(unavailable)) as [string, string?, (string | string[])?, (string | null)?];
    if (state === 'busy') throw inProgress();
    if (state === 'done') return { prior: { id: id!, t: Number(third) } };
    return {
      id: id!,
      present: liveNodes(Array.isArray(third) ? third : []),
      policy: policy ?? null,
    };
  }

  /** The keys of the scripts that store a message (APPEND, RESERVE_OR_STORE). */
  private storeKeys(inbox: string, idempotencyKey: string | undefined) {
    return {
      seq: this.key(inbox, 'seq'),
      ...this.queueKeys(inbox),
      idem: this.idempotencyKey(inbox, idempotencyKey),
      presence: presenceKey(this.prefix, inbox),
    };
  }

  /**
   * Their arguments that describe the message and the quota: the payload as
   * the hash keeps it, header and body (parsePayload), and the bytes charged.
   * Made here: Lua's string.format is dear, and Redis's Lua hashes every byte
   * of a string it makes, so joining header and body there costs a second
   * pass over the body.
   */
  private storeArgs(msg: Omit<NewMessage, 'id'>, idempotencyKey: string | undefined) {
    const t = Math.round(msg.t);
    const expiresAt = t + Math.round(msg.ttlMs);
    let head = `${pad13(t)}:${pad13(expiresAt)}:${msg.binary ? 1 : 0}:`;
    let size = msg.body.byteLength;
    if (msg.from !== undefined) {
      // the byte count charges the longer header too, as DROP will give it back
      head = `~2:${head}${msg.from}:`;
      size += FROM_BYTES;
    }
    // Header and body go to Redis as one argument, written straight into the command.
    const payload = new Joined(head, msg.body);
    return {
      now: this.now(),
      t,
      expiresAt,
      payload,
      size,
      useKey: idempotencyKey === undefined ? 0 : 1,
      maxMessages: this.quota.maxMessages,
      maxBytes: this.quota.maxBytes,
    };
  }

  async reserveOrStore(
    inbox: string,
    msg: Omit<NewMessage, 'id' | 'from'>,
    idempotencyKey?: string,
  ): Promise<StoredOrReserved> {
    const reply = (await this.reserveOrStoreScript(
      { ...this.storeKeys(inbox, idempotencyKey), policy: this.key(inbox, 'policy') },
      this.storeArgs(msg, idempotencyKey),
    ).catch(unavailable)) as [string, string?, (string | string[])?, (string | null)?];
    const [state, id, third, policy] = reply;
    if (state === 'full') throw inboxFull();
    if (state === 'busy') throw inProgress();
    if (state === 'done') return { prior: { id: id!, t: Number(third) } };
    if (state === 'stored') {
      // Nobody was present when it was stored (read in the same step).
      return {
        stored: { id: id!, t: msg.t, expiresAt: Number(third), duplicate: false, present: [] },
      };
    }
    return {
      id: id!,
      present: liveNodes(Array.isArray(third) ? third : []),
      policy: policy ?? null,
    };
  }

  async append(inbox: string, msg: NewMessage, idempotencyKey?: string): Promise<Appended> {
    const reply = (await this.appendScript(this.storeKeys(inbox, idempotencyKey), {
      ...this.storeArgs(msg, idempotencyKey),
      id: msg.id ?? '',
    }).catch(unavailable)) as [string, string?, string?, (string | string[])?];
    const [state, id, a, b] = reply;
    if (state === 'full') throw inboxFull();
    if (state === 'busy') throw inProgress();
    if (state === 'done') {
      return { id: id!, t: Number(a), expiresAt: Number(b), duplicate: true };
    }
    const present = liveNodes(Array.isArray(b) ? b : []);
    return { id: id!, t: msg.t, expiresAt: Number(a), duplicate: false, present };
  }

  async commit(
    inbox: string,
    idempotencyKey: string,
    answer: Answer,
    ttlMs: number,
  ): Promise<void> {
    const value = `${answer.id}:${answer.t}:${answer.t + ttlMs}`;
    await this.redis
      .set(this.idempotencyKey(inbox, idempotencyKey), value, 'PX', Math.max(ttlMs, 1))
      .catch(unavailable);
  }

  async forget(inbox: string, idempotencyKey: string, id: string): Promise<void> {
    await this.forgetScript({ idem: this.idempotencyKey(inbox, idempotencyKey) }, { id }).catch(
      unavailable,
    );
  }

  async lease(inbox: string, max: number, leaseMs: number): Promise<StoredMessage[]> {
    const flat = (await this.leaseScript
      .buffers(this.queueKeys(inbox), { now: this.now(), max, leaseMs })
      .catch(unavailable)) as Buffer[];
    const expired = Number(flat[0]);
    if (expired > 0) this.onExpired(expired);
    const out: StoredMessage[] = [];
    for (let i = 1; i + 1 < flat.length; i += 2) {
      out.push(parsePayload(flat[i]!.toString(), flat[i + 1]!));
    }
    return out;
  }

  async remove(inbox: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return (await this.removeScript(this.queueKeys(inbox), {}, ids).catch(unavailable)) as number;
  }

  async release(inbox: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.releaseScript({ l: this.key(inbox, 'l') }, {}, ids).catch(unavailable);
  }

  private counted: { at: number; n: Promise<number> } | null = null;

  /**
   * Messages stored in all inboxes of this prefix: SCAN for queue keys and sum
   * their sizes, at most COUNT_MAX_KEYS keys (then a lower bound), at most
   * once every COUNT_CACHE_MS (scrapes from many relays stay cheap).
   */
  count(): Promise<number> {
    const now = Date.now();
    if (this.counted && now - this.counted.at < COUNT_CACHE_MS) return this.counted.n;
    const nodes: Redis[] = 'nodes' in this.redis ? this.redis.nodes('master') : [this.redis];
    const n = Promise.all(nodes.map((node) => this.countOn(node))).then((ns) =>
      ns.reduce((a, b) => a + b, 0),
    );
    this.counted = { at: now, n };
    n.catch(() => (this.counted = null));
    return n;
  }

  private async countOn(node: Redis): Promise<number> {
    let cursor = '0';
    let total = 0;
    let seen = 0;
    do {
      const [next, keys] = await node.scan(
        cursor,
        'MATCH',
        queueScanPattern(this.prefix),
        'COUNT',
        1000,
      );
      cursor = next;
      seen += keys.length;
      if (keys.length) {
        const sizes = await Promise.all(keys.map((k) => node.zcard(k)));
        total += sizes.reduce((a, b) => a + b, 0);
      }
    } while (cursor !== '0' && seen < COUNT_MAX_KEYS);
    return total;
  }

  async ping(): Promise<void> {
    if ('nodes' in this.redis) {
      const masters = this.redis.nodes('master');
      if (masters.length === 0) throw new Error('no Redis Cluster master reachable');
      await Promise.all(masters.map((n) => n.ping()));
    } else {
      await this.redis.ping();
    }
  }

  async close(): Promise<void> {}
}
