/**
 * Prometheus metrics (prom-client), one registry per relay (never the global
 * one), every name prefixed `npchat_`. No label ever carries an inbox id, a
 * key or an address: labels are small fixed sets (result codes, modes,
 * events, engines), so a sender cannot grow the registry. The counters and
 * histograms that hot paths touch are this module's own single-label classes
 * (prom-client's check and hash labels on every call); prom-client formats
 * them like its own.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { RelayError } from './errors.js';
import type { Store } from './store/store.js';

/** What happened to messages: each counts once per message and event. */
export type MessageEvent =
  'delivered_live' | 'flushed' | 'stored' | 'expired' | 'acknowledged' | 'refused_quota';

export type LimitName =
  'post' | 'inbox' | 'challenge' | 'prekeys' | 'fetch' | 'auth' | 'connection' | 'socket';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const DELIVERY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600, 86400];

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  /** Histograms name each line (_bucket, _sum, _count); a counter's lines carry its name. */
  metricName?: string;
}

/** One label value's observations: a count per bucket (not cumulative), their sum and count. */
interface Series {
  buckets: number[];
  sum: number;
  count: number;
}

/** What prom-client's Registry reads of a metric (its Metric type is a class, hence the cast). */
function register(
  registry: Registry,
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  values: () => ExportedValue[],
  reset: () => void,
): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset,
  };
  registry.registerMetric(metric as never);
}

/**
 * A histogram with one label, for the hot paths (every POST, every delivered
 * message). prom-client's observe() checks and hashes its labels on every
 * call (about 3 µs of a POST in a profile); here a label value finds its
 * series in a map and an observation is a bucket search and three adds. The
 * registry gets a metric object of prom-client's shape, so the exposition is
 * prom-client's own (a unit test compares them). Label values come from
 * fixed sets (result codes, paths): the map cannot grow with input.
 */
export class LabeledHistogram {
  readonly series = new Map<string, Series>();

  constructor(
    registry: Registry,
    private readonly name: string,
    help: string,
    private readonly label: string,
    private readonly bounds: readonly number[],
  ) {
    register(
      registry,
      name,
      help,
      'histogram',
      () => [...this.series].flatMap(([value, s]) => this.export(value, s)),
      () => this.series.clear(),
    );
  }

  observe(value: string, seconds: number): void {
    let s = this.series.get(value);
    if (!s) {
      s = { buckets: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(value, s);
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

  /** As prom-client exports a histogram: cumulative buckets, +Inf, sum, count. */
  private export(value: string, s: Series): ExportedValue[] {
    const { name, label } = this;
    let cumulative = 0;
    const values: ExportedValue[] = this.bounds.map((le, i) => {
      cumulative += s.buckets[i]!;
      return { labels: { le, [label]: value }, value: cumulative, metricName: `${name}_bucket` };
    });
    values.push(
      { labels: { le: '+Inf', [label]: value }, value: s.count, metricName: `${name}_bucket` },
      { labels: { [label]: value }, value: s.sum, metricName: `${name}_sum` },
      { labels: { [label]: value }, value: s.count, metricName: `${name}_count` },
    );
    return values;
  }
}

/** A counter with one label, the same way (prom-client's `inc(labels, n)` call shape). */
export class LabeledCounter<L extends string> {
  private readonly counts = new Map<string, number>();

  constructor(
    registry: Registry,
    name: string,
    help: string,
    private readonly label: L,
  ) {
    register(
      registry,
      name,
      help,
      'counter',
      () => [...this.counts].map(([value, n]) => ({ labels: { [label]: value }, value: n })),
      () => this.counts.clear(),
    );
  }

  inc(labels: Record<L, string>, n = 1): void {
    const value = labels[this.label];
    this.counts.set(value, (this.counts.get(value) ?? 0) + n);
  }
}

/**
 * POST answers by result code: counted (npchat_posts_total) and timed
 * (npchat_post_duration_seconds), one observation per POST feeding both.
 */
export class PostMetrics {
  private readonly seconds: LabeledHistogram;

  constructor(registry: Registry, bounds: readonly number[]) {
    // The counter first: the registry lists metrics in the order they came.
    register(
      registry,
      'npchat_posts_total',
      'POST /{id} answers, by result: "sent" or the error code.',
      'counter',
      () => [...this.seconds.series].map(([code, s]) => ({ labels: { code }, value: s.count })),
      () => this.seconds.series.clear(),
    );
    this.seconds = new LabeledHistogram(
      registry,
      'npchat_post_duration_seconds',
      'Time from a POST arriving to its answer, by result.',
      'code',
      bounds,
    );
  }

  /** One POST answered with `code` after `seconds`. */
  observe(code: string, seconds: number): void {
    this.seconds.observe(code, seconds);
  }
}

/** A scrape's text serves every scrape asked for within this long of it. */
export const SCRAPE_REUSE_MS = 1000;

export class Metrics {
  readonly registry = new Registry();
  /** The last scrape: when it was made, and its text (still being made, maybe). */
  private lastScrape: { at: number; text: Promise<string> } | null = null;
  private readonly now: () => number;
  readonly posts: PostMetrics;
  readonly handshakes: LabeledCounter<'result'>;
  readonly messages: LabeledCounter<'event'>;
  readonly deliverySeconds: LabeledHistogram;
  readonly rateLimited: LabeledCounter<'limit'>;
  readonly storeErrors: LabeledCounter<'op'>;

  constructor(options: {
    /** Open sockets by mode (`handshake`, `legacy`, `ack`), read at scrape time. */
    sockets: () => Record<string, number>;
    store: Store;
    now?: () => number;
  }) {
    this.now = options.now ?? Date.now;
    const registry = this.registry;
    this.posts = new PostMetrics(registry, LATENCY_BUCKETS);
    this.handshakes = new LabeledCounter(
      registry,
      'npchat_handshakes_total',
      'WebSocket handshakes, by result: "ok" or the error code.',
      'result',
    );
    this.messages = new LabeledCounter(
      registry,
      'npchat_messages_total',
      'Messages by event: delivered_live, flushed (from the store), stored, expired (noticed by a lease or sweep), acknowledged, refused_quota.',
      'event',
    );
    this.deliverySeconds = new LabeledHistogram(
      registry,
      'npchat_delivery_latency_seconds',
      'Time from a message being posted to its frame being written, by path (live or stored).',
      'path',
      DELIVERY_BUCKETS,
    );
    this.rateLimited = new LabeledCounter(
      registry,
      'npchat_rate_limited_total',
      'Requests refused by a limit, by limit: post, inbox, challenge, prekeys, fetch, auth, connection, socket.',
      'limit',
    );
    this.storeErrors = new LabeledCounter(
      registry,
      'npchat_store_errors_total',
      'Store operations that failed (store unreachable or full), by operation.',
      'op',
    );
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

  /**
   * The exposition text. Making it costs ~0.7 ms of CPU (the default metrics,
   * the gauges), some 50 POSTs' worth, and /metrics is public by default:
   * one client asking in a loop took a whole core. A scrape within
   * SCRAPE_REUSE_MS of the last one made (or while that one is being made)
   * gets its text, so at most one is made a second however fast anyone
   * asks. Prometheus scrapes every 15 s or so; a failed one is not reused.
   */
  scrape(): Promise<string> {
    const now = this.now();
    const last = this.lastScrape;
    if (last && now - last.at < SCRAPE_REUSE_MS) return last.text;
    const text = this.registry.metrics();
    const made = { at: now, text };
    this.lastScrape = made;
    text.catch(() => {
      if (this.lastScrape === made) this.lastScrape = null;
    });
    return text;
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
      holdsBodies: store.holdsBodies,
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
