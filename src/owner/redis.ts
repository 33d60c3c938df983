/**
 * The Redis engine of the owner state. Keys (P = prefix, I = inbox id; see
 * redis/keys.ts), with their lifetimes:
 *   P tok:H        session token hash H -> inbox id; expires with the session
 *   P{I}:once:K    single-use mark K (challenge, signed-post replay guard);
 *                  expires when the thing it guards would be refused anyway
 *   P{I}:kb        the key bundle (JSON: identityKey, signedPreKey); no expiry
 *   P{I}:kp        list of one-time prekeys (JSON each); no expiry
 *   P{I}:shareable, P{I}:data, P{I}:policy   owner blobs; no expiry
 * Prekeys, cards, data and policy belong to the owner, not to the queue:
 * they stay until the owner replaces them. Every multi-key step is one Lua
 * script on keys of one slot, so a one-time prekey is popped by exactly one
 * fetch across all relays.
 */
import { RelayError } from '../errors.js';
import type { RedisClient } from '../redis/connect.js';
import { inboxKey } from '../redis/keys.js';
import {
  noBundle,
  tooManyPrekeys,
  type BlobName,
  type Bundle,
  type HandedBundle,
  type OwnerState,
  type PreKey,
} from './state.js';

// KEYS kb kp; ARGV bundle prekey... : replaces the bundle and its prekeys.
const PUT_KEYS = `
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1])
for i = 2, #ARGV, 500 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return 0
`;

// KEYS kb kp; ARGV max prekey... -> held now | -1 (too many) | -2 (no bundle)
const ADD_PREKEYS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
local held = redis.call('LLEN', KEYS[2])
if held + #ARGV - 1 > tonumber(ARGV[1]) then return -1 end
for i = 2, #ARGV, 500 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return redis.call('LLEN', KEYS[2])
`;

// KEYS kb kp -> { bundle, prekey or false } | false (no bundle). Runs on a full Redis:
// handing out a key only frees memory.
const TAKE = `#!lua flags=allow-oom
local bundle = redis.call('GET', KEYS[1])
if not bundle then return false end
return { bundle, redis.call('LPOP', KEYS[2]) }
`;

interface Scripts {
  npchatPutKeys(...args: string[]): Promise<number>;
  npchatAddPrekeys(...args: (string | number)[]): Promise<number>;
  npchatTake(kb: string, kp: string): Promise<[string, string | null] | null>;
}

function unavailable(err: unknown): never {
  if (err instanceof RelayError) throw err;
  throw new RelayError('unavailable', 'The relay cannot reach its store now.');
}

export function createRedisOwnerState(redis: RedisClient, prefix: string): OwnerState {
  redis.defineCommand('npchatPutKeys', { numberOfKeys: 2, lua: PUT_KEYS });
  redis.defineCommand('npchatAddPrekeys', { numberOfKeys: 2, lua: ADD_PREKEYS });
  redis.defineCommand('npchatTake', { numberOfKeys: 2, lua: TAKE });
  const scripts = redis as unknown as Scripts;
  const key = (inbox: string, name: string) => inboxKey(prefix, inbox, name);
  return {
    tokens: {
      async save(hash, inbox, ttlMs) {
        await redis.set(`${prefix}tok:${hash}`, inbox, 'PX', Math.max(1, ttlMs)).catch(unavailable);
      },
      inboxOf: (hash) => redis.get(`${prefix}tok:${hash}`).catch(unavailable),
      async revoke(hash) {
        await redis.del(`${prefix}tok:${hash}`).catch(unavailable);
      },
    },
    once: {
      async first(inbox, k, ttlMs) {
        const set = await redis
          .set(key(inbox, `once:${k}`), '1', 'PX', Math.max(1, ttlMs), 'NX')
          .catch(unavailable);
        return set === 'OK';
      },
      async forget(inbox, k) {
        await redis.del(key(inbox, `once:${k}`)).catch(unavailable);
      },
    },
    prekeys: {
      async put(inbox: string, bundle: Bundle, preKeys: readonly PreKey[]) {
        await scripts
          .npchatPutKeys(
            key(inbox, 'kb'),
            key(inbox, 'kp'),
            JSON.stringify(bundle),
            ...preKeys.map((k) => JSON.stringify(k)),
          )
          .catch(unavailable);
      },
      async add(inbox: string, preKeys: readonly PreKey[], max: number) {
        const held = await scripts
          .npchatAddPrekeys(
            key(inbox, 'kb'),
            key(inbox, 'kp'),
            max,
            ...preKeys.map((k) => JSON.stringify(k)),
          )
          .catch(unavailable);
        if (held === -2) throw noBundle();
        if (held === -1) throw tooManyPrekeys(max);
        return held;
      },
      async take(inbox: string): Promise<HandedBundle | null> {
        const reply = await scripts
          .npchatTake(key(inbox, 'kb'), key(inbox, 'kp'))
          .catch(unavailable);
        if (!reply) return null;
        const bundle = JSON.parse(reply[0]) as Bundle;
        return { ...bundle, preKey: reply[1] ? (JSON.parse(reply[1]) as PreKey) : null };
      },
      count: (inbox) => redis.llen(key(inbox, 'kp')).catch(unavailable),
    },
    blobs: {
      async put(inbox: string, name: BlobName, value: string) {
        await redis.set(key(inbox, name), value).catch(unavailable);
      },
      get: (inbox: string, name: BlobName) => redis.get(key(inbox, name)).catch(unavailable),
    },
    close: async () => {},
  };
}
