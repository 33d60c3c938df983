/**
 * The Hub contract (src/hub/hub.ts), run against the local hub (one node)
 * and against two Redis hubs on one prefix (two nodes, a redis-server and a
 * 3-master Redis Cluster): a sink is subscribed on node B, messages are
 * published and wakes sent from node A.
 */
import { describe, expect, it } from 'vitest';
import { WRITE_TIMEOUT_MS, type Hub, type LiveMessage, type LiveSink } from '../../src/hub/hub.js';
import { LocalHub } from '../../src/hub/local-hub.js';
import { FORWARD_TIMEOUT_MS, PRESENCE_BATCH, RedisHub } from '../../src/hub/redis-hub.js';
import { createLogger } from '../../src/logger.js';
import { connectRedis, whenReady, type RedisConnections } from '../../src/redis/connect.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { presenceKey, queueKey } from '../../src/redis/keys.js';
import { rawCommand, redisAndCluster, uniquePrefix } from '../helpers/redis.js';

const INBOX = 'wKIqHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const OTHER = 'AAAAHs_6fsi4bBDXcz39M0AyiMF19iFNYx8cconqPmU';
const msg: LiveMessage = { id: '1', body: Buffer.from('live'), binary: false, t: 1, ttlMs: 1000 };

interface Sink extends LiveSink {
  got: string[];
  woken: number;
  /** Ids handed back with keepWrite. */
  kept: string[];
}

/** A sink whose writes report `written` after `ms` ('never': a write that hangs). */
function sink(written = true, ms: number | 'never' = 0, ackMode = false): Sink {
  return {
    ackMode,
    got: [],
    woken: 0,
    kept: [],
    keepWrite(id) {
      this.kept.push(id);
    },
    deliver(m) {
      this.got.push(Buffer.from(m.body).toString());
      if (ms === 'never') return new Promise<boolean>(() => {});
      return new Promise((resolve) => setTimeout(resolve, ms, written));
    },
    wake() {
      this.woken++;
    },
  };
}

const until = async (check: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return check();
};

type Nodes = { a: Hub; b: Hub; close(): Promise<void> };

function hubContract(name: string, nodes: () => Promise<Nodes>, slack: number): void {
  describe(`Hub contract: ${name}`, () => {
    const run = (title: string, fn: (n: Nodes) => Promise<void>) =>
      it(title, async () => {
        const n = await nodes();
        try {
          await fn(n);
        } finally {
          await n.close();
        }
      });

    run('publish with no sink anywhere resolves false (the caller stores)', async ({ a }) => {
      expect(await a.publish(INBOX, msg)).toBe(false);
    });

    run('a sink on another node gets the message once; true once written', async ({ a, b }) => {
      const s = sink();
      const other = sink();
      await b.subscribe(INBOX, s);
      await b.subscribe(OTHER, other);
      expect(await a.publish(INBOX, msg)).toBe(true);
      expect(s.got).toEqual(['live']);
      expect(other.got).toEqual([]);
    });

    run('false when the only write fails', async ({ a, b }) => {
      await b.subscribe(INBOX, sink(false));
      expect(await a.publish(INBOX, msg)).toBe(false);
    });

    run('false, in bounded time, when no write completes', async ({ a, b }) => {
      await b.subscribe(INBOX, sink(true, 'never'));
      const started = Date.now();
      expect(await a.publish(INBOX, msg)).toBe(false);
      expect(Date.now() - started).toBeLessThan(WRITE_TIMEOUT_MS + slack + 500);
    });

    run(
      'a write still running when publish answers false was handed back first',
      async ({ a, b }) => {
        const s = sink(true, 'never');
        await b.subscribe(INBOX, s);
        expect(await a.publish(INBOX, msg)).toBe(false);
        // The caller stores it now: the sink must already know, not to write the stored copy too.
        expect(s.kept).toEqual([msg.id]);
      },
    );

    run('an ack-mode sink anywhere: false, and nothing is offered live', async ({ a, b }) => {
      const legacy = sink();
      const ack = sink(true, 0, true);
      await b.subscribe(INBOX, legacy);
      await b.subscribe(INBOX, ack);
      expect(await a.publish(INBOX, msg)).toBe(false);
      expect([legacy.got, ack.got]).toEqual([[], []]);
    });

    run('notifyStored wakes the sinks of the inbox on every node', async ({ a, b }) => {
      const s = sink();
      const other = sink();
      await b.subscribe(INBOX, s);
      await b.subscribe(OTHER, other);
      const before = [s.woken, other.woken];
      await a.notifyStored(INBOX);
      expect(await until(() => s.woken === before[0]! + 1)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(other.woken).toBe(before[1]);
    });

    run('after unsubscribe: nothing offered, nobody woken, localCount 0', async ({ a, b }) => {
      const s = sink();
      await b.subscribe(INBOX, s);
      expect(b.localCount(INBOX)).toBe(1);
      b.unsubscribe(INBOX, s);
      expect(b.localCount(INBOX)).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
      expect(await a.publish(INBOX, msg)).toBe(false);
      await a.notifyStored(INBOX);
      await new Promise((r) => setTimeout(r, 100));
      expect([s.got.length, s.woken]).toEqual([0, 0]);
    });
  });
}

hubContract(
  'local (one node)',
  async () => {
    const hub = new LocalHub();
    return { a: hub, b: hub, close: () => hub.close() };
  },
  0,
);

const shared = redisAndCluster();

const logger = createLogger('silent');

async function redisNodes(
  target: () => { url: string } | { cluster: string },
): Promise<Nodes & { prefix: string }> {
  const prefix = uniquePrefix();
  const conns: RedisConnections[] = [
    connectRedis(target(), logger),
    connectRedis(target(), logger),
  ];
  // Both connections ready first: a subscriber that becomes ready later wakes
  // every local sink (lost wakes after a reconnect), which would blur the cases.
  // A connection that is not ready would fail its first command at once (no
  // offline queue): wait for all of them, and say so if one never is.
  const ready = await Promise.all(
    conns.flatMap((c) => [whenReady(c.client, 15_000), whenReady(c.subscriber, 15_000)]),
  );
  if (!ready.every(Boolean)) {
    await Promise.all(conns.map((c) => c.close()));
    expect(ready).toEqual([true, true, true, true]);
  }
  const [a, b] = conns.map((c) => new RedisHub(c, prefix, logger)) as [RedisHub, RedisHub];
  await Promise.all([a.start(), b.start()]);
  return {
    a,
    b,
    prefix,
    async close() {
      await Promise.all([a.close(), b.close()]);
      await Promise.all(conns.map((c) => c.close()));
    },
  };
}

hubContract(
  'two Redis hubs, one prefix',
  () => redisNodes(() => ({ url: shared.server.url })),
  FORWARD_TIMEOUT_MS,
);
hubContract(
  'two Redis hubs on a Cluster',
  () => redisNodes(() => ({ cluster: shared.cluster.seeds })),
  FORWARD_TIMEOUT_MS,
);

describe('RedisHub specifics', () => {
  it('keeps every forwarded write, even one that completed in time', async () => {
    // The sender stores a forwarded message when the answer is late or lost,
    // which the receiving node cannot know at write time.
    const n = await redisNodes(() => ({ url: shared.server.url }));
    try {
      const remote = sink();
      await n.b.subscribe(INBOX, remote);
      expect(await n.a.publish(INBOX, msg)).toBe(true);
      expect(remote.kept).toEqual([msg.id]);
    } finally {
      await n.close();
    }
  });

  it('keeps a local write only when the message is stored all the same', async () => {
    const n = await redisNodes(() => ({ url: shared.server.url }));
    try {
      const [alone, mixed, ack] = [sink(), sink(), sink(true, 0, true)];
      await n.a.subscribe(INBOX, alone);
      expect(await n.a.publish(INBOX, msg)).toBe(true);
      // Written here, but an ack-mode session on the other node makes the caller store it.
      await n.a.subscribe(OTHER, mixed);
      await n.b.subscribe(OTHER, ack);
      expect(await n.a.publish(OTHER, msg)).toBe(false);
      expect([alone.kept, mixed.got, mixed.kept]).toEqual([[], ['live'], [msg.id]]);
    } finally {
      await n.close();
    }
  });

  it('refreshes presence a batch at a time, one refresh at a time, waking inboxes with messages', async () => {
    const n = await redisNodes(() => ({ url: shared.server.url }));
    try {
      const hub = n.a as unknown as {
        presenceScript: (...args: unknown[]) => Promise<number>;
        refreshPresence(): Promise<void>;
        conn: { subscriber: { emit(event: string): boolean } };
      };
      const count = 2 * PRESENCE_BATCH + 10;
      const inboxes = Array.from({ length: count }, (_, i) => `${INBOX.slice(0, 40)}${i}`);
      const sinks = inboxes.map(() => sink());
      await Promise.all(inboxes.map((inbox, i) => n.a.subscribe(inbox, sinks[i]!)));
      await rawCommand(shared.server.port, `SET ${queueKey(n.prefix, inboxes[7]!)} x`);
      const real = hub.presenceScript;
      let inFlight = 0;
      let most = 0;
      let calls = 0;
      hub.presenceScript = async (...args: unknown[]) => {
        calls++;
        most = Math.max(most, ++inFlight);
        try {
          return await real(...args);
        } finally {
          inFlight--;
        }
      };
      // A refresh (the timer), and the subscriber reconnecting meanwhile (wakes
      // may have been lost): the second refresh runs after the first.
      const first = hub.refreshPresence();
      hub.conn.subscriber.emit('ready');
      await first;
      await until(() => calls === 2 * count && inFlight === 0);
      expect([calls, most]).toEqual([2 * count, PRESENCE_BATCH]);
      expect(sinks[7]!.woken).toBe(2);
      expect(sinks.filter((s) => s.woken > 0)).toHaveLength(1);

      // A socket that leaves while a refresh runs: its presence is not written back.
      const last = inboxes[count - 1]!;
      let left = false;
      hub.presenceScript = async (...args: unknown[]) => {
        if (!left) {
          left = true;
          n.a.unsubscribe(last, sinks[count - 1]!); // clears the presence (one HDEL)
        }
        return real(...args);
      };
      await hub.refreshPresence();
      await new Promise((r) => setTimeout(r, 50)); // the HDEL, sent without waiting
      expect(await rawCommand(shared.server.port, `EXISTS ${presenceKey(n.prefix, last)}`)).toBe(
        ':0\r\n',
      );
    } finally {
      await n.close();
    }
  });

  it('with a presence snapshot from the store, publish offers only to the nodes it names', async () => {
    const n = await redisNodes(() => ({ url: shared.server.url }));
    try {
      const s = sink();
      await n.b.subscribe(INBOX, s);
      expect(await n.a.publish(INBOX, msg, [])).toBe(false);
      expect(s.got).toEqual([]);
      expect(await n.a.publish(INBOX, msg, [(n.b as RedisHub).nodeId])).toBe(true);
      expect(s.got).toEqual(['live']);
    } finally {
      await n.close();
    }
  });

  for (const [name, target, client] of [
    ['Redis', () => ({ url: shared.server.url }), () => shared.redis],
    ['Cluster', () => ({ cluster: shared.cluster.seeds }), () => shared.clusterClient],
  ] as const) {
    it(`${name}: subscribe resolves false only while the store holds nothing for the inbox`, async () => {
      const n = await redisNodes(target);
      // The store on the shared client (it queues until connected): only the hub is under test.
      const store = new RedisStore(client(), n.prefix);
      try {
        expect(await n.b.subscribe(INBOX, sink())).toBe(false);
        const { id } = await store.append(INBOX, {
          body: Buffer.from('stored'),
          binary: false,
          t: Date.now(),
          ttlMs: 60_000,
        });
        expect(await n.b.subscribe(INBOX, sink())).toBe(true);
        expect(await n.b.subscribe(OTHER, sink())).toBe(false); // another inbox
        expect(await store.remove(INBOX, [id])).toBe(1);
        expect(await n.b.subscribe(INBOX, sink())).toBe(false);
      } finally {
        await n.close();
      }
    });
  }
});
