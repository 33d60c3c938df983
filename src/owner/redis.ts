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
import { inboxKey, tokenKey } from '../redis/keys.js';
import { defineScript } from '../redis/script.js';
import {
  noBundle,
  tooManyPrekeys,
  type BlobName,
  type Bundle,
  type HandedBundle,
  type OwnerState,
  type PreKey,
} from './state.js';

// rest: prekeys (JSON each). Replaces the bundle and its prekeys.
const PUT_KEYS = {
  name: 'npchatPutKeys',
  keys: ['kb', 'kp'],
  args: ['bundle'],
  lua: `
redis.call('DEL', kp)
redis.call('SET', kb, bundle)
for i = REST + 1, #ARGV, 500 do
  redis.call('RPUSH', kp, unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return 0
`,
} as const;

// rest: prekeys (JSON each) -> held now | -1 (too many) | -2 (no bundle)
const ADD_PREKEYS = {
  name: 'npchatAddPrekeys',
  keys: ['kb', 'kp'],
  args: ['max'],
  lua: `
if redis.call('EXISTS', kb) == 0 then return -2 end
local held = redis.call('LLEN', kp)
if held + #ARGV - REST > tonumber(max) then return -1 end
for i = REST + 1, #ARGV, 500 do
  redis.call('RPUSH', kp, unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return redis.call('LLEN', kp)
`,
} as const;

// -> { bundle, prekey or false } | false (no bundle). Runs on a full Redis:
// handing out a key only frees memory.
const TAKE = {
  name: 'npchatTake',
  keys: ['kb', 'kp'],
  args: [],
  lua: `#!lua flags=allow-oom
local found = redis.call('GET', kb)
if not found then return false end
return { found, redis.call('LPOP', kp) }
`,
} as const;

function unavailable(err: unknown): never {
  if (err instanceof RelayError) throw err;
  throw new RelayError('unavailable', 'The relay cannot reach its store now.');
}

export function createRedisOwnerState(redis: RedisClient, prefix: string): OwnerState {
  const putKeys = defineScript(redis, PUT_KEYS);
  const addPrekeys = defineScript(redis, ADD_PREKEYS);
  const take = defineScript(redis, TAKE);
  const key = (inbox: string, name: string) => inboxKey(prefix, inbox, name);
  const bundleKeys = (inbox: string) => ({ kb: key(inbox, 'kb'), kp: key(inbox, 'kp') });
  return {
    tokens: {
      async save(hash, inbox, ttlMs) {
        await redis.set(tokenKey(prefix, hash), inbox, 'PX', Math.max(1, ttlMs)).catch(unavailable);
      },
      inboxOf: (hash) => redis.get(tokenKey(prefix, hash)).catch(unavailable),
      async revoke(hash) {
        await redis.del(tokenKey(prefix, hash)).catch(unavailable);
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
        await putKeys(
          bundleKeys(inbox),
          { bundle: JSON.stringify(bundle) },
          preKeys.map((k) => JSON.stringify(k)),
        ).catch(unavailable);
      },
      async add(inbox: string, preKeys: readonly PreKey[], max: number) {
        const held = (await addPrekeys(
          bundleKeys(inbox),
          { max },
          preKeys.map((k) => JSON.stringify(k)),
        ).catch(unavailable)) as number;
        if (held === -2) throw noBundle();
        if (held === -1) throw tooManyPrekeys(max);
        return held;
      },
      async take(inbox: string): Promise<HandedBundle | null> {
        const reply = (await take(bundleKeys(inbox), {}).catch(unavailable)) as
          [string, string | null] | null;
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
