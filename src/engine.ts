/**
 * Picks the engine: the embedded one (memory store, local hub) or the
 * scale-out one (Redis store, Redis hub, shared challenge keys). One
 * function decides, from the configuration alone.
 */
import type { KeyDirectory } from './auth/keyring.js';
import type { Config } from './config.js';
import type { Hub } from './hub/hub.js';
import { LocalHub } from './hub/local-hub.js';
import { RedisHub } from './hub/redis-hub.js';
import type { Logger } from './logger.js';
import { createMemoryOwnerState } from './owner/memory.js';
import { createRedisOwnerState } from './owner/redis.js';
import type { OwnerState } from './owner/state.js';
import { connectRedis, whenReady, type RedisClient } from './redis/connect.js';
import { RedisKeyDirectory } from './redis/key-directory.js';
import { MemoryStore } from './store/memory-store.js';
import { loadQueue, saveQueue } from './store/persist.js';
import { RedisStore } from './store/redis-store.js';
import type { Store } from './store/store.js';

export interface Engine {
  store: Store;
  hub: Hub;
  /** Owner API state: tokens, single-use marks, prekeys, blobs. */
  owner: OwnerState;
  directory?: KeyDirectory;
  /** The Redis the rate limits count in (scale-out engine only). */
  redis?: RedisClient;
  /** Resolves once the engine can serve, or after `ms` (then /ready tells). */
  start(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function createEngine(
  config: Config,
  logger: Logger,
  onExpired: (n: number) => void = () => {},
): Engine {
  const quota = { maxMessages: config.inboxMaxMessages, maxBytes: config.inboxMaxBytes };
  if (!config.redisUrl && !config.redisCluster) {
    // Owner state has a bound of its own, as large as the message store's.
    const owner = createMemoryOwnerState({
      maxBytes: config.storeMaxBytes,
      onSweepError: (err) => logger.error({ err }, 'owner state sweep failed'),
    });
    const store = new MemoryStore({
      cleanPeriodMs: config.cleanPeriod * 1000,
      quota,
      maxBytes: config.storeMaxBytes,
      onExpired,
      onSweepError: (err) => logger.error({ err }, 'memory store sweep failed'),
      policyOf: owner.policyOf,
    });
    const hub = new LocalHub();
    const file = config.persistFile;
    return {
      store,
      hub,
      owner,
      start: async () => {
        if (file) await loadQueue(file, store, logger);
      },
      close: async () => {
        await hub.close();
        if (file) {
          try {
            const messages = saveQueue(file, store);
            logger.info({ file, messages }, 'queue saved to persist file');
          } catch (err) {
            logger.error({ file, err: (err as Error).message }, 'could not save the queue');
          }
        }
        await store.close();
        await owner.close();
      },
    };
  }
  const log = logger.child({ component: 'redis' });
  const conn = connectRedis(
    config.redisCluster ? { cluster: config.redisCluster } : { url: config.redisUrl },
    log,
  );
  const hub = new RedisHub(conn, config.redisPrefix, log, config.heartbeat * 1000);
  return {
    store: new RedisStore(conn.client, config.redisPrefix, quota, onExpired),
    hub,
    owner: createRedisOwnerState(conn.client, config.redisPrefix),
    redis: conn.client,
    directory: new RedisKeyDirectory(conn.client, config.redisPrefix),
    async start(ms) {
      // Both waits share one deadline: at most `ms` before serving anyway.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => (timer = setTimeout(r, ms)));
      const subscribed = hub.start().catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'cannot subscribe to the node channel');
      });
      const [ready] = await Promise.all([
        whenReady(conn.client, ms),
        Promise.race([subscribed, deadline]),
      ]);
      clearTimeout(timer);
      if (!ready) log.warn('redis is not reachable yet: /ready answers 503 until it is');
    },
    async close() {
      await hub.close();
      await conn.close();
    },
  };
}
