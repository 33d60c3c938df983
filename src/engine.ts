/**
 * Picks the engine: the embedded one (memory store, local hub) or the
 * scale-out one (Redis store, Redis hub, shared challenge keys). One
 * function decides, from the configuration alone.
 */
import type { KeyDirectory } from './auth/keyring.js';
import type { Config } from './config.js';
import type { Hub, UndeliveredHandler } from './hub/hub.js';
import { LocalHub } from './hub/local-hub.js';
import { RedisHub } from './hub/redis-hub.js';
import type { Logger } from './logger.js';
import { connectRedis, whenReady } from './redis/connect.js';
import { RedisKeyDirectory } from './redis/key-directory.js';
import { MemoryStore } from './store/memory-store.js';
import { loadQueue, saveQueue } from './store/persist.js';
import type { MessageIds } from './store/message-ids.js';
import { RedisStore } from './store/redis-store.js';
import type { Store } from './store/store.js';

export interface Engine {
  store: Store;
  hub: Hub;
  directory?: KeyDirectory;
  /** Resolves once the engine can serve, or after `ms` (then /ready tells). */
  start(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function createEngine(
  config: Config,
  logger: Logger,
  ids: MessageIds,
  undelivered: UndeliveredHandler,
): Engine {
  if (!config.redisUrl && !config.redisCluster) {
    const store = new MemoryStore({ cleanPeriodMs: config.cleanPeriod * 1000, ids });
    const hub = new LocalHub(undelivered);
    const file = config.persistFile;
    return {
      store,
      hub,
      start: async () => {
        const saved = file ? loadQueue(file, logger) : null;
        if (saved) store.restore(saved);
      },
      close: async () => {
        await hub.close();
        if (file) {
          try {
            const snapshot = store.snapshot();
            saveQueue(file, snapshot);
            logger.info(
              { file, messages: snapshot.messages.length },
              'queue saved to persist file',
            );
          } catch (err) {
            logger.error({ file, err: (err as Error).message }, 'could not save the queue');
          }
        }
        await store.close();
      },
    };
  }
  const log = logger.child({ component: 'redis' });
  const conn = connectRedis(
    config.redisCluster ? { cluster: config.redisCluster } : { url: config.redisUrl },
    log,
  );
  const hub = new RedisHub(conn, config.redisPrefix, undelivered, log);
  return {
    store: new RedisStore(conn.client, config.redisPrefix),
    hub,
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
