/**
 * Prometheus metrics (prom-client), one registry per relay (never the global
 * one), every name prefixed `npchat_`. No label ever carries an inbox id, a
 * key or an address: labels are small fixed sets (result codes, modes,
 * events, engines), so a sender cannot grow the registry.
 */
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
} from 'prom-client';
import { RelayError } from './errors.js';
import type { Store } from './store/store.js';

/** What happened to messages: each counts once per message and event. */
export type MessageEvent =
  'delivered_live' | 'flushed' | 'stored' | 'expired' | 'acknowledged' | 'refused_quota';

export type LimitName =
  'post' | 'inbox' | 'challenge' | 'prekeys' | 'auth' | 'connection' | 'socket';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const DELIVERY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600, 86400];

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** One result code's POSTs: a count per latency bucket (not cumulative), their sum and count. */
interface PostSeries {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * POST answers by result code, counted (npchat_posts_total) and timed
 * (npchat_post_duration_seconds). prom-client's inc() and observe() check and
 * hash their labels on every call, about 5 µs of a POST's CPU in a profile;
 * here a code finds its series in a map and an observation is a bucket search
 * and three adds. Both metrics are handed to the registry as prom-client
 * metric objects (name, help, type, aggregator, get, reset), so the
 * exposition is prom-client's own.
 */
export class PostMetrics {
  private readonly series = new Map<string, PostSeries>();

  constructor(
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    const series = this.series;
    const metric = (name: string, help: string, type: string, values: () => unknown[]) => ({
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
      reset: () => series.clear(),
    });
    const name = 'npchat_post_duration_seconds';
    const counter = metric(
      'npchat_posts_total',
      'POST /{id} answers, by result: "sent" or the error code.',
      'counter',
      () => [...series].map(([code, s]) => ({ labels: { code }, value: s.count })),
    );
    const histogram = metric(
      name,
      'Time from a POST arriving to its answer, by result.',
      'histogram',
      () => [...series].flatMap(([code, s]) => this.export(name, code, s)),
    );
    // prom-client's Registry takes any object of this shape (its Metric type is a class).
    registry.registerMetric(counter as never);
    registry.registerMetric(histogram as never);
  }

  /** One POST answered with `code` after `seconds`. */
  observe(code: string, seconds: number): void {
    let s = this.series.get(code);
    if (!s) {
      s = { buckets: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(code, s);
    }
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        s.buckets[i]!++;
        break;
      }
    }
    s.sum += seconds;
    s.count++;
  }

  /** The series as prom-client exports a histogram: cumulative buckets, +Inf, sum, count. */
  private export(name: string, code: string, s: PostSeries): ExportedValue[] {
    let cumulative = 0;
    const values: ExportedValue[] = this.bounds.map((le, i) => {
      cumulative += s.buckets[i]!;
      return { labels: { le, code }, value: cumulative, metricName: `${name}_bucket` };
    });
    values.push(
      { labels: { le: '+Inf', code }, value: s.count, metricName: `${name}_bucket` },
      { labels: { code }, value: s.sum, metricName: `${name}_sum` },
      { labels: { code }, value: s.count, metricName: `${name}_count` },
    );
    return values;
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly posts: PostMetrics;
  readonly handshakes: Counter<'result'>;
  readonly messages: Counter<'event'>;
  readonly deliverySeconds: Histogram<'path'>;
  readonly rateLimited: Counter<'limit'>;
  readonly storeErrors: Counter<'op'>;

  constructor(options: {
    /** Open sockets by mode (`handshake`, `legacy`, `ack`), read at scrape time. */
    sockets: () => Record<string, number>;
    store: Store;
  }) {
    const registry = this.registry;
    const counter = <T extends string>(c: CounterConfiguration<T>) =>
      new Counter<T>({ ...c, registers: [registry] });
    this.posts = new PostMetrics(registry, LATENCY_BUCKETS);
    this.handshakes = counter({
      name: 'npchat_handshakes_total',
      help: 'WebSocket handshakes, by result: "ok" or the error code.',
      labelNames: ['result'],
    });
    this.messages = counter({
      name: 'npchat_messages_total',
      help: 'Messages by event: delivered_live, flushed (from the store), stored, expired (noticed by a lease or sweep), acknowledged, refused_quota.',
      labelNames: ['event'],
    });
    this.deliverySeconds = new Histogram({
      name: 'npchat_delivery_latency_seconds',
      help: 'Time from a message being posted to its frame being written, by path (live or stored).',
      labelNames: ['path'],
      buckets: DELIVERY_BUCKETS,
      registers: [registry],
    });
    this.rateLimited = counter({
      name: 'npchat_rate_limited_total',
      help: 'Requests refused by a limit, by limit: post, inbox, challenge, auth, connection, socket.',
      labelNames: ['limit'],
    });
    this.storeErrors = counter({
      name: 'npchat_store_errors_total',
      help: 'Store operations that failed (store unreachable or full), by operation.',
      labelNames: ['op'],
    });
    new Gauge({
      name: 'npchat_sockets_open',
      help: 'Open owner WebSockets on this relay, by mode: handshake (not yet authenticated), legacy, ack.',
      labelNames: ['mode'],
      registers: [registry],
      collect() {
        const counts = options.sockets();
        for (const mode of ['handshake', 'legacy', 'ack']) this.set({ mode }, counts[mode] ?? 0);
      },
    });
    const store = options.store;
    new Gauge({
      name: 'npchat_messages_stored',
      help: 'Messages stored now, by engine (on Redis: counted across all relays, at most every 10 s).',
      labelNames: ['engine'],
      registers: [registry],
      async collect() {
        const n = await store.count().catch(() => null);
        if (n !== null) this.set({ engine: store.kind }, n);
      },
    });
    collectDefaultMetrics({ register: registry, prefix: 'npchat_' });
  }

  /** The store, with every failed operation counted (the store itself is unchanged). */
  instrument(store: Store): Store {
    const errors = this.storeErrors;
    // The caller gets the store's own promise; the count hangs off a branch of
    // it (which swallows nothing the caller sees), so no step is added to the
    // caller's chain.
    const counted =
      <A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> => {
        const result = fn(...args);
        result.catch((err: unknown) => {
          // Quota refusals and idempotency waits are answers, not store failures.
          const code = err instanceof RelayError ? err.code : 'internal';
          if (code === 'unavailable' || code === 'internal') errors.inc({ op });
        });
        return result;
      };
    return {
      kind: store.kind,
      reserve: counted('reserve', (...a) => store.reserve(...a)),
      append: counted('append', (...a) => store.append(...a)),
      reserveOrStore: counted('reserve', (...a) => store.reserveOrStore(...a)),
      commit: counted('commit', (...a) => store.commit(...a)),
      forget: counted('forget', (...a) => store.forget(...a)),
      lease: counted('lease', (...a) => store.lease(...a)),
      remove: counted('remove', (...a) => store.remove(...a)),
      release: counted('release', (...a) => store.release(...a)),
      count: () => store.count(),
      ping: () => store.ping(),
      close: () => store.close(),
    };
  }
}
