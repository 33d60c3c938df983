import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LabeledCounter, LabeledHistogram, PostMetrics } from '../../src/metrics.js';

const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** JSON exposition without prom-client's `exemplar: null` on each bucket (exemplars are off): not a value. */
const plain = (metrics: unknown): unknown =>
  JSON.parse(JSON.stringify(metrics, (k, v: unknown) => (k === 'exemplar' ? undefined : v)));

/** The same observations through prom-client's own Counter and Histogram. */
function reference(observations: [string, number][]): Registry {
  const registry = new Registry();
  const posts = new Counter({
    name: 'npchat_posts_total',
    help: 'POST /{id} answers, by result: "sent" or the error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'npchat_post_duration_seconds',
    help: 'Time from a POST arriving to its answer, by result.',
    labelNames: ['code'],
    buckets: BOUNDS,
    registers: [registry],
  });
  for (const [code, s] of observations) {
    posts.inc({ code });
    seconds.observe({ code }, s);
  }
  return registry;
}

describe('PostMetrics', () => {
  // Values on bucket bounds, between them, below the first and above the last.
  const observations: [string, number][] = [
    ['sent', 0.0001],
    ['sent', 0.0005],
    ['sent', 0.0007],
    ['sent', 0.003],
    ['sent', 2.5],
    ['sent', 7],
    ['inbox_full', 0.02],
    ['rate_limited', 0.00001],
    ['inbox_full', 0.1],
  ];

  it('exposes the same text as prom-client Counter + Histogram fed the same POSTs', async () => {
    const registry = new Registry();
    const posts = new PostMetrics(registry, BOUNDS);
    for (const [code, s] of observations) posts.observe(code, s);
    expect(await registry.metrics()).toBe(await reference(observations).metrics());
  });

  it('exposes the same JSON (what a cluster aggregator reads)', async () => {
    const registry = new Registry();
    const posts = new PostMetrics(registry, BOUNDS);
    for (const [code, s] of observations) posts.observe(code, s);
    const ours = await registry.getMetricsAsJSON();
    const theirs = await reference(observations).getMetricsAsJSON();
    expect(plain(ours)).toEqual(plain(theirs));
  });

  it('starts empty and is emptied by resetMetrics()', async () => {
    const registry = new Registry();
    const posts = new PostMetrics(registry, BOUNDS);
    expect(await registry.metrics()).toBe(await reference([]).metrics());
    posts.observe('sent', 0.001);
    expect(await registry.metrics()).toContain('npchat_posts_total{code="sent"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).toBe(await reference([]).metrics());
  });
});

describe('LabeledCounter and LabeledHistogram', () => {
  const DELIVERY = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600, 86400];

  function both(feed: {
    inc: (labels: { event: string }, n?: number) => void;
    observe: (path: string, s: number) => void;
  }) {
    feed.inc({ event: 'stored' });
    feed.inc({ event: 'flushed' }, 100);
    feed.inc({ event: 'stored' }, 2);
    feed.observe('live', 0.0004);
    feed.observe('stored', 5);
    feed.observe('stored', 90_000);
    feed.observe('stored', 100_000);
  }

  it('expose the same text and JSON as prom-client Counter and Histogram', async () => {
    const ours = new Registry();
    const counter = new LabeledCounter(ours, 'npchat_messages_total', 'Messages.', 'event');
    const histogram = new LabeledHistogram(
      ours,
      'npchat_delivery_latency_seconds',
      'Latency.',
      'path',
      DELIVERY,
    );
    both({
      inc: (l, n) => counter.inc(l, n),
      observe: (p, s) => histogram.observe(p, s),
    });

    const theirs = new Registry();
    const c = new Counter({
      name: 'npchat_messages_total',
      help: 'Messages.',
      labelNames: ['event'],
      registers: [theirs],
    });
    const h = new Histogram({
      name: 'npchat_delivery_latency_seconds',
      help: 'Latency.',
      labelNames: ['path'],
      buckets: DELIVERY,
      registers: [theirs],
    });
    both({ inc: (l, n) => c.inc(l, n), observe: (path, s) => h.observe({ path }, s) });

    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(plain(await ours.getMetricsAsJSON())).toEqual(plain(await theirs.getMetricsAsJSON()));
  });
});
