/**
 * Rate limits (rate-limiter-flexible): POSTs per address, messages per inbox,
 * challenges per address, key bundle fetches per address and inbox, owner
 * fetches per inbox, failed handshakes per address. Addresses are keys
 * from http/address.ts (an IPv6 /64 counts as one address).
 *
 * On Redis the counters live in Redis, so a limit holds across every relay
 * of the deployment. When the limiter's Redis cannot be reached (down, not
 * ready, or full), each relay falls back to counting in its own memory (the
 * insurance limiter): limits then hold per relay rather than across relays,
 * and nothing is refused because Redis is down.
 */
import {
  BurstyRateLimiter,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Config } from './config.js';
import { RelayError } from './errors.js';
import type { LimitName } from './metrics.js';
import type { RedisClient } from './redis/connect.js';
import { rateLimitPrefix } from './redis/keys.js';

type Limiter = Pick<RateLimiterAbstract, 'consume'> | BurstyRateLimiter;

export interface Limits {
  /** Whether either POST limit (per address, per inbox) is on: when not, a POST skips both. */
  readonly postLimited: boolean;
  /** A POST from this address; throws `rate_limited` with Retry-After when over. */
  post(address: string): Promise<void>;
  /** A message to this inbox; throws `rate_limited` when over. */
  inbox(inbox: string): Promise<void>;
  /** A challenge asked from this address; throws `rate_limited` when over. */
  challenge(address: string): Promise<void>;
  /** A key bundle fetched by this address from this inbox; throws `rate_limited` when over. */
  prekeys(address: string, inbox: string): Promise<void>;
  /** An owner fetch of this inbox's messages; throws `rate_limited` when over. */
  fetch(inbox: string): Promise<void>;
  /** Counts a failed handshake of this address. */
  authFailed(address: string): Promise<void>;
  /** Throws `rate_limited` while this address has used up its failed handshakes. */
  checkAuth(address: string): Promise<void>;
}

function retryAfter(res: RateLimiterRes): string {
  return String(Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
}

export function createLimits(
  config: Pick<
    Config,
    | 'postRate'
    | 'postBurst'
    | 'inboxRate'
    | 'inboxBurst'
    | 'handshakeRate'
    | 'handshakeBurst'
    | 'authFailures'
    | 'prekeyRate'
    | 'prekeyBurst'
    | 'fetchRate'
    | 'fetchBurst'
  >,
  redis?: { client: RedisClient; prefix: string },
  onRefused: (limit: LimitName) => void = () => {},
): Limits {
  const make = (name: string, points: number, duration: number): RateLimiterAbstract => {
    const options = { keyPrefix: rateLimitPrefix(redis?.prefix ?? '', name), points, duration };
    if (!redis) return new RateLimiterMemory(options);
    return new RateLimiterRedis({
      ...options,
      storeClient: redis.client,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory(options),
    });
  };
  /** `rate` per second plus a bucket of `burst` refilled over burst/rate seconds; null: off. */
  const bursty = (name: string, rate: number, burst: number): Limiter | null => {
    if (rate === 0) return null;
    const steady = make(name, rate, 1);
    if (burst === 0) return steady;
    return new BurstyRateLimiter(steady, make(`${name}:burst`, burst, Math.ceil(burst / rate)));
  };
  const post = bursty('post', config.postRate, config.postBurst);
  const inbox = bursty('inbox', config.inboxRate, config.inboxBurst);
  const challenge = bursty('challenge', config.handshakeRate, config.handshakeBurst);
  const prekeys = bursty('prekeys', config.prekeyRate, config.prekeyBurst);
  const fetches = bursty('fetch', config.fetchRate, config.fetchBurst);
  const failures = config.authFailures > 0 ? make('authfail', config.authFailures, 60) : null;

  const consume = async (
    name: LimitName,
    limiter: Limiter | null,
    key: string,
    message: string,
  ) => {
    if (!limiter) return;
    try {
      await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        onRefused(name);
        throw new RelayError('rate_limited', message, { 'Retry-After': retryAfter(err) });
      }
      // Not a refusal but a limiter failure (its insurance failed too): let
      // the request through rather than refuse everyone.
    }
  };

  return {
    postLimited: post !== null || inbox !== null,
    post: (address) =>
      consume(
        'post',
        post,
        address,
        'Too many messages from this address; retry after Retry-After seconds.',
      ),
    inbox: (id) =>
      consume(
        'inbox',
        inbox,
        id,
        'Too many messages to this inbox; retry after Retry-After seconds.',
      ),
    challenge: (address) =>
      consume('challenge', challenge, address, 'Too many handshakes from this address.'),
    prekeys: (address, id) =>
      consume(
        'prekeys',
        prekeys,
        `${address} ${id}`,
        'Too many key bundle fetches from this address for this inbox.',
      ),
    fetch: (id) =>
      consume(
        'fetch',
        fetches,
        id,
        'Too many fetches for this inbox; long-poll with wait, or retry after Retry-After seconds.',
      ),
    async authFailed(address) {
      await failures?.consume(address).catch(() => {});
    },
    async checkAuth(address) {
      const res = await failures?.get(address).catch(() => null);
      if (res && res.consumedPoints >= config.authFailures) {
        onRefused('auth');
        throw new RelayError('rate_limited', 'Too many failed handshakes from this address.', {
          'Retry-After': retryAfter(res),
        });
      }
    },
  };
}
