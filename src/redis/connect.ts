/**
 * Redis connections for the scale-out engine: a command client and a
 * subscriber, for one Redis or a Redis Cluster.
 *
 * Failure policy (DESIGN.md "200 is a promise"): no offline queue, so a
 * command while Redis is unreachable fails at once; a command that gets no
 * answer fails after COMMAND_TIMEOUT_MS; reconnection is retried forever with
 * a capped backoff, so the relay recovers by itself when Redis returns.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

export const COMMAND_TIMEOUT_MS = 800;

export type RedisClient = Redis | Cluster;

export interface RedisConnections {
  client: RedisClient;
  subscriber: RedisClient;
  /** Cluster: sharded pub/sub (SSUBSCRIBE/SPUBLISH); one Redis: plain pub/sub. */
  sharded: boolean;
  close(): Promise<void>;
}

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);

const commandOptions: RedisOptions = {
  enableOfflineQueue: false,
  commandTimeout: COMMAND_TIMEOUT_MS,
  maxRetriesPerRequest: 0,
  retryStrategy,
  lazyConnect: false,
};

// The subscriber queues its (re)subscriptions until connected and never times out.
const subscriberOptions: RedisOptions = {
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
  retryStrategy,
  autoResubscribe: true,
};

/**
 * Every command written to `conn` in one turn of the event loop leaves in
 * one write system call: the first write of a turn corks the connection's
 * socket, and a setImmediate (after the turn's I/O callbacks and their
 * promise work) uncorks it. A POST's command then costs the relay a share
 * of one system call instead of one of its own, and on loopback the writer
 * also pays for waking Redis (docs/performance.md, tenth round). No command
 * waits longer than the turn that wrote it; replies and their order are
 * ioredis's as before. Applied to each new socket when ioredis announces
 * it ('connect', on the next tick: the AUTH, SELECT and ready check that
 * ioredis writes just before go out one by one, as they always did).
 */
export function coalesceWrites(conn: Redis): void {
  conn.on('connect', () => {
    const stream = conn.stream;
    const write = stream.write;
    let corked = false;
    const uncork = () => {
      corked = false;
      stream.uncork();
    };
    stream.write = function (this: typeof stream, ...args: unknown[]): boolean {
      if (!corked) {
        corked = true;
        stream.cork();
        setImmediate(uncork);
      }
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof stream.write;
  });
}

function seeds(list: string): ClusterNode[] {
  return list.split(',').map((hostPort) => {
    const i = hostPort.lastIndexOf(':');
    return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
  });
}

/**
 * What ioredis takes for a redisUrl: redis:// and rediss:// as they are;
 * unix:///path?query as the socket path with its query (db, password), which
 * ioredis reads from a string that starts with "/".
 */
export function ioredisTarget(url: string): string {
  return url.startsWith('unix://') ? url.slice('unix://'.length) : url;
}

export function connectRedis(
  target: { url: string } | { cluster: string },
  logger: Logger,
): RedisConnections {
  let client: RedisClient;
  let subscriber: RedisClient;
  const sharded = 'cluster' in target;
  if ('cluster' in target) {
    const nodes = seeds(target.cluster);
    const base = { clusterRetryStrategy: retryStrategy, slotsRefreshTimeout: 2000 };
    client = new Cluster(nodes, {
      ...base,
      enableOfflineQueue: false,
      // Node connections open at their first command (ioredis's own default,
      // which these options would otherwise override). Opened at once, they
      // raced the Cluster's ready check: its CLUSTER INFO, sent to a node
      // still connecting, is refused by a Cluster with no offline queue
      // ("Connection is closed"), and the Cluster starts over after a
      // backoff: 3-9 s to ready now and then, past 15 s under load.
      // whenReady opens every master's connection once the Cluster is ready.
      redisOptions: { ...commandOptions, lazyConnect: true },
    });
    // The node connections are made later, each announced by '+node'.
    client.on('+node', (node: Redis) => coalesceWrites(node));
    subscriber = new Cluster(nodes, {
      ...base,
      enableOfflineQueue: true,
      shardedSubscribers: true,
      redisOptions: { ...subscriberOptions },
    });
  } else {
    const url = ioredisTarget(target.url);
    client = new Redis(url, commandOptions);
    coalesceWrites(client);
    subscriber = new Redis(url, subscriberOptions);
  }
  for (const [name, conn] of [
    ['client', client],
    ['subscriber', subscriber],
  ] as const) {
    let down = false;
    conn.on('error', (err: Error) => {
      if (!down) logger.warn({ conn: name, err: err.message }, 'redis error');
      down = true;
    });
    conn.on('ready', () => {
      if (down) logger.info({ conn: name }, 'redis connection restored');
      down = false;
    });
  }
  return {
    client,
    subscriber,
    sharded,
    async close() {
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

/** Resolves true once `conn`'s status is ready, or false after `ms`. */
function statusReady(conn: Redis | Cluster, ms: number): Promise<boolean> {
  if (conn.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      conn.off('ready', onReady);
      resolve(false);
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    conn.once('ready', onReady);
  });
}

/**
 * Resolves true once `conn` is ready, or false after `ms`. A Cluster with no
 * offline queue is ready once every master's connection is, too: it refuses
 * a command for a node whose connection is still opening, so its node
 * connections are opened here rather than by the first commands.
 */
export async function whenReady(conn: RedisClient, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  if (!(await statusReady(conn, ms))) return false;
  if (!(conn instanceof Cluster) || conn.options.enableOfflineQueue) return true;
  const masters = conn.nodes('master');
  for (const node of masters) if (node.status === 'wait') node.connect().catch(() => {});
  const left = Math.max(0, deadline - Date.now());
  const ready = await Promise.all(masters.map((node) => statusReady(node, left)));
  return ready.every(Boolean);
}
