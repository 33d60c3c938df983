/**
 * The scale-out store: one inbox's queue in Redis, every key of an inbox
 * hash-tagged `{inbox}` so that it lives in one Redis Cluster slot and the
 * Lua scripts below run atomically on one node.
 *
 * Keys (P = prefix, I = inbox id):
 *   P{I}:seq  last message id (string; outlives the queue by SEQ_SLACK_MS so ids never repeat)
 *   P{I}:q    zset  message id -> id           (order)
 *   P{I}:m    hash  message id -> "t:expiresAt:binary:" .. body (bytes)
 *   P{I}:x    zset  message id -> expiresAt    (expiry index)
 *   P{I}:l    zset  message id -> leasedUntil  (leases)
 *   P{I}:k:H  "id:t:expiresAt" of the first POST with idempotency key H
 *             (H = base64url SHA-256 of the key), expiring with that message
 * Every key expires a little after the inbox's last message, so an abandoned
 * inbox leaves nothing behind; expired messages are trimmed on every append
 * and lease, so nothing grows without bound.
 */
import { createHash } from 'node:crypto';
import { RelayError } from '../errors.js';
import type { RedisClient } from '../redis/connect.js';
import type { Answer, Appended, NewMessage, Store, StoredMessage } from './store.js';

/** Ids stay monotonic while the seq key lives: keep it well past the last message. */
const SEQ_SLACK_MS = 3_600_000;

// Removes up to 500 expired messages of the inbox (every key but seq).
const TRIM = `
local function trim(q, m, x, l, now)
  local old = redis.call('ZRANGEBYSCORE', x, '-inf', now, 'LIMIT', 0, 500)
  if #old > 0 then
    redis.call('ZREM', q, unpack(old))
    redis.call('HDEL', m, unpack(old))
    redis.call('ZREM', x, unpack(old))
    redis.call('ZREM', l, unpack(old))
  end
end
`;

// KEYS seq q m x l k; ARGV now t ttlMs binary body useKey -> { id, t, expiresAt, duplicate }
const APPEND = `${TRIM}
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local expiresAt = t + tonumber(ARGV[3])
if ARGV[6] == '1' then
  local prior = redis.call('GET', KEYS[6])
  if prior then
    local pid, pt, pexp = string.match(prior, '^(%d+):(%d+):(%d+)$')
    return { pid, pt, pexp, '1' }
  end
end
trim(KEYS[2], KEYS[3], KEYS[4], KEYS[5], now)
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local id = math.max(last + 1, now * 1000)
local sid = string.format('%.0f', id)
redis.call('ZADD', KEYS[2], id, sid)
redis.call('HSET', KEYS[3], sid, string.format('%.0f:%.0f:%s:', t, expiresAt, ARGV[4]) .. ARGV[5])
redis.call('ZADD', KEYS[4], expiresAt, sid)
local latest = tonumber(redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')[2])
local keep = math.max(latest - now, 1) + 60000
for i = 2, 5 do redis.call('PEXPIRE', KEYS[i], keep) end
redis.call('SET', KEYS[1], sid, 'PX', keep + ${SEQ_SLACK_MS})
local texp = string.format('%.0f', expiresAt)
if ARGV[6] == '1' then
  redis.call('SET', KEYS[6], sid .. ':' .. ARGV[2] .. ':' .. texp, 'PX', math.max(expiresAt - now, 1))
end
return { sid, ARGV[2], texp, '0' }
`;

// KEYS q m x l; ARGV now max leaseMs -> { id1, payload1, id2, payload2, ... }
const LEASE = `${TRIM}
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local untilMs = now + tonumber(ARGV[3])
trim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], now)
local out = {}
local offset = 0
while #out < 2 * max do
  local ids = redis.call('ZRANGE', KEYS[1], offset, offset + 99)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local leased = tonumber(redis.call('ZSCORE', KEYS[4], id) or '0')
    if leased <= now then
      local payload = redis.call('HGET', KEYS[2], id)
      if payload then
        redis.call('ZADD', KEYS[4], untilMs, id)
        out[#out + 1] = id
        out[#out + 1] = payload
        if #out >= 2 * max then break end
      end
    end
  end
  offset = offset + 100
end
if #out > 0 then
  -- the lease set lives exactly as long as the queue it belongs to
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[4], ttl) end
end
return out
`;

// KEYS q m x l; ARGV ids... -> removed count
const REMOVE = `
local n = 0
for _, id in ipairs(ARGV) do
  n = n + redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
return n
`;

interface Scripts {
  npchatAppend(...args: (string | Buffer | number)[]): Promise<string[]>;
  npchatLeaseBuffer(...args: (string | number)[]): Promise<Buffer[]>;
  npchatRemove(...args: string[]): Promise<number>;
}

function parsePayload(id: string, payload: Buffer): StoredMessage {
  let pos = 0;
  const fields: string[] = [];
  for (let i = 0; i < 3; i++) {
    const end = payload.indexOf(0x3a, pos);
    fields.push(payload.subarray(pos, end).toString());
    pos = end + 1;
  }
  const [t, expiresAt, binary] = fields.map(Number) as [number, number, number];
  return {
    id,
    t,
    expiresAt,
    ttlMs: expiresAt - t,
    binary: binary === 1,
    body: payload.subarray(pos),
  };
}

/** Any Redis failure becomes `unavailable` (503): the caller must not promise anything. */
function unavailable(err: unknown): never {
  throw new RelayError(
    'unavailable',
    `The store cannot take the request now (${(err as Error).message}).`,
  );
}

export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    redis.defineCommand('npchatAppend', { numberOfKeys: 6, lua: APPEND });
    redis.defineCommand('npchatLease', { numberOfKeys: 4, lua: LEASE });
    redis.defineCommand('npchatRemove', { numberOfKeys: 4, lua: REMOVE });
    this.scripts = redis as unknown as Scripts;
  }

  private key(inbox: string, name: string): string {
    return `${this.prefix}{${inbox}}:${name}`;
  }

  private queueKeys(inbox: string): string[] {
    return ['q', 'm', 'x', 'l'].map((n) => this.key(inbox, n));
  }

  private idempotencyKey(inbox: string, key: string): string {
    return this.key(inbox, `k:${createHash('sha256').update(key).digest('base64url')}`);
  }

  async append(inbox: string, msg: NewMessage, idempotencyKey?: string): Promise<Appended> {
    const [id, t, expiresAt, duplicate] = await this.scripts
      .npchatAppend(
        this.key(inbox, 'seq'),
        ...this.queueKeys(inbox),
        this.idempotencyKey(inbox, idempotencyKey ?? ''),
        Date.now(),
        msg.t,
        msg.ttlMs,
        msg.binary ? 1 : 0,
        Buffer.from(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength),
        idempotencyKey === undefined ? 0 : 1,
      )
      .catch(unavailable);
    return { id: id!, t: Number(t), expiresAt: Number(expiresAt), duplicate: duplicate === '1' };
  }

  async recall(inbox: string, idempotencyKey: string): Promise<Answer | null> {
    const prior = await this.redis
      .get(this.idempotencyKey(inbox, idempotencyKey))
      .catch(unavailable);
    if (!prior) return null;
    const [id, t] = prior.split(':');
    return { id: id!, t: Number(t) };
  }

  async remember(
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

  async lease(inbox: string, max: number, leaseMs: number): Promise<StoredMessage[]> {
    const flat = await this.scripts
      .npchatLeaseBuffer(...this.queueKeys(inbox), Date.now(), max, leaseMs)
      .catch(unavailable);
    const out: StoredMessage[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push(parsePayload(flat[i]!.toString(), flat[i + 1]!));
    }
    return out;
  }

  async remove(inbox: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.scripts.npchatRemove(...this.queueKeys(inbox), ...ids).catch(unavailable);
  }

  async release(inbox: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.zrem(this.key(inbox, 'l'), ...ids).catch(unavailable);
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
