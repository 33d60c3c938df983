/**
 * The scale-out hub: presence and live routing across relay nodes through
 * Redis. Each node has a random id and listens on its own channel
 * `P node:{id}` (sharded pub/sub on Cluster). Per inbox, the hash
 * `P{I}:p` maps node id -> presence expiry (ms), written when a node gets
 * its first authenticated socket for the inbox, refreshed every
 * PRESENCE_TTL_MS / 3, and removed when its last one closes.
 *
 * publish (legacy rule "online: forward without storing; offline: store"):
 *   deliver to local sinks; read the presence hash; forward the message to
 *   every other present node and wait for its reply (taken: written to a
 *   socket; refused; or "ack": an ack-mode session is there, so the message
 *   must be stored). A node replies once its local write finished or its
 *   WRITE_TIMEOUT_MS passed. No reply within FORWARD_TIMEOUT_MS (node dead,
 *   pub/sub message lost) counts as refused, so the caller stores the message:
 *   a dead node costs latency, never a message (at worst a duplicate).
 *
 * Ordering argument (no message is stranded in the store while its owner is
 * online). Every key of an inbox is in one slot, so one Redis node executes
 * all of the following commands in one total order.
 *   POST on node A:   A1 append(msg) to the queue;  A2 read presence; wake the nodes found.
 *   socket on node B: B1 write presence;            B2 lease (read) the queue.
 * A1 precedes A2 (the store's append script reads the presence hash right
 * after appending, in the same atomic step; a store without that hint makes A
 * await the append before notifyStored reads it; the one-step path of an
 * offline POST, the store's reserveOrStore, reads the presence and appends in
 * one atomic step and appends only when it found nobody, so nobody needs waking) and B1 precedes
 * B2 (Session awaits subscribe before flushing). Either A2 comes after B1:
 * then A sees B and wakes it, and B's flush after the wake leases msg; or A2
 * comes before B1: then A1 < A2 < B1 < B2 and B's first lease sees msg.
 * The presence script also reads whether the queue exists (a read of B2's
 * kind inside B1): if it does not, A1 comes after B1, so A sees B and wakes
 * it, and B skips its first lease unless woken (OwnerSocket.goLive).
 * Wakes lost to a pub/sub outage are covered by the presence refresh, run
 * when the subscriber reconnects and at least once per heartbeat: the script
 * that refreshes an inbox's presence also tells whether its queue exists,
 * and the inbox's sessions are woken when it does (this also finds messages
 * whose lease a dead relay left behind).
 * Sessions do not re-flush on their own heartbeat (rechecksStore): an idle
 * socket costs one round trip per refresh, not that plus a lease.
 * A socket closing on B while A forwards: B's local delivery refuses (no
 * sink), B replies "refused", A stores.
 */
import { randomBytes } from 'node:crypto';
import { RelayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RedisConnections } from '../redis/connect.js';
import { liveNodes, nodeChannel, presenceKey, queueKey } from '../redis/keys.js';
import { defineScript, type Script } from '../redis/script.js';
import type { LiveMessage, LiveSink, LocalDelivery } from './hub.js';
import { LocalHub } from './local-hub.js';

export const PRESENCE_TTL_MS = 60_000;

// Runs on a full Redis (maxmemory reached): presence is one small field per
// authenticated socket's node, and without it owners on other relays would
// stop getting live messages. Answers whether the inbox's queue exists, read
// in the same atomic step: when it does not, a socket that subscribes now
// need not read the store (any message appended later finds this presence
// and wakes it: the ordering argument above, with B2 read inside B1).
const PRESENCE = {
  name: 'npchatPresence',
  keys: ['presence', 'queue'],
  args: ['node', 'untilMs', 'ttlMs'],
  lua: `#!lua flags=allow-oom
redis.call('HSET', presence, node, untilMs)
redis.call('PEXPIRE', presence, ttlMs)
return redis.call('EXISTS', queue)
`,
} as const;
export const FORWARD_TIMEOUT_MS = 500;
/**
 * Inboxes whose presence is refreshed (or cleared) per round trip: the
 * commands in flight, and Redis's burst, stay bounded whatever the number of
 * sockets (100,000 idle sockets are 391 round trips, not one burst).
 */
export const PRESENCE_BATCH = 256;

type Envelope =
  | {
      k: 'fwd';
      rid: number;
      from: string;
      inbox: string;
      id: string;
      t: number;
      ttlMs: number;
      binary: boolean;
    }
  | { k: 'ack'; rid: number; result: LocalDelivery }
  | { k: 'wake'; inbox: string };

function encode(env: Envelope, body?: Uint8Array): Buffer {
  const head = Buffer.from(JSON.stringify(env) + '\n');
  return body ? Buffer.concat([head, body]) : head;
}

function decode(buf: Buffer): { env: Envelope; body: Buffer } {
  const nl = buf.indexOf(0x0a);
  return {
    env: JSON.parse(buf.subarray(0, nl).toString()) as Envelope,
    body: buf.subarray(nl + 1),
  };
}

/** `fn` for every item, PRESENCE_BATCH at a time; stops at the first batch that fails. */
async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += PRESENCE_BATCH) {
    await Promise.all(items.slice(i, i + PRESENCE_BATCH).map(fn));
  }
}

export class RedisHub extends LocalHub {
  override readonly rechecksStore = true;
  readonly nodeId = randomBytes(8).toString('hex');
  private readonly pending = new Map<number, (result: LocalDelivery) => void>();
  private nextRid = 1;
  private readonly refreshTimer: NodeJS.Timeout;
  private readonly channel: string;
  private closed = false;
  /** A refresh is running; `refreshAgain`: another was asked for meanwhile. */
  private refreshing = false;
  private refreshAgain = false;
  private readonly presenceScript: Script<'presence' | 'queue', 'node' | 'untilMs' | 'ttlMs'>;

  /**
   * `recheckMs`: the longest time between two checks of each local inbox's
   * queue (the heartbeat); the presence is refreshed as often, and at least
   * every PRESENCE_TTL_MS / 3.
   */
  constructor(
    private readonly conn: RedisConnections,
    private readonly prefix: string,
    private readonly logger: Logger,
    recheckMs: number = PRESENCE_TTL_MS / 3,
  ) {
    super();
    this.presenceScript = defineScript(conn.client, PRESENCE);
    this.channel = this.nodeChannel(this.nodeId);
    const event = conn.sharded ? 'smessageBuffer' : 'messageBuffer';
    conn.subscriber.on(event, (channel: Buffer, message: Buffer) => {
      if (channel.toString() === this.channel) this.onMessage(message);
    });
    // After a subscriber reconnect, wakes may have been lost: the refresh
    // wakes every local inbox that has messages queued (in batches, not a
    // lease per socket at once against a Redis that just came back).
    conn.subscriber.on('ready', () => void this.refreshPresence());
    // A restarted Redis may have lost our presence: write it again at once.
    conn.client.on('ready', () => void this.refreshPresence());
    this.refreshTimer = setInterval(
      () => void this.refreshPresence(),
      Math.min(recheckMs, PRESENCE_TTL_MS / 3),
    );
    this.refreshTimer.unref();
  }

  /** Subscribes to this node's channel (queued by the subscriber until Redis is reachable). */
  async start(): Promise<void> {
    const sub = this.conn.subscriber;
    await (this.conn.sharded ? sub.ssubscribe(this.channel) : sub.subscribe(this.channel));
  }

  private nodeChannel(nodeId: string): string {
    return nodeChannel(this.prefix, nodeId);
  }

  private presenceKey(inbox: string): string {
    return presenceKey(this.prefix, inbox);
  }

  private send(nodeId: string, payload: Buffer): Promise<number> {
    const c = this.conn.client;
    const channel = this.nodeChannel(nodeId);
    return (
      this.conn.sharded ? c.spublish(channel, payload) : c.publish(channel, payload)
    ) as Promise<number>;
  }

  /**
   * Marks this node present for the inbox: one round trip (the inbox's keys
   * share a slot). Resolves whether the inbox's queue existed at that moment.
   */
  private async setPresence(inbox: string): Promise<boolean> {
    const queued = await this.presenceScript(
      { presence: this.presenceKey(inbox), queue: queueKey(this.prefix, inbox) },
      { node: this.nodeId, untilMs: Date.now() + PRESENCE_TTL_MS, ttlMs: PRESENCE_TTL_MS },
    );
    return queued !== 0;
  }

  /** Best effort: a presence that is not removed expires with PRESENCE_TTL_MS. */
  private clearPresence(inbox: string): Promise<unknown> {
    return this.conn.client.hdel(this.presenceKey(inbox), this.nodeId).catch(() => 0);
  }

  /**
   * Refreshes every local inbox's presence, PRESENCE_BATCH at a time, and
   * wakes its sinks when it has messages stored. One refresh at a time: one
   * asked for while another runs (a Redis restart) runs right after it.
   */
  private async refreshPresence(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        await inBatches(this.localInboxes(), async (inbox) => {
          // Gone since the list was taken: its presence was cleared, not to be written again.
          if (this.closed || !this.hasLocal(inbox)) return;
          if (await this.setPresence(inbox)) this.wakeLocal(inbox);
        }).catch((err: unknown) =>
          this.logger.warn({ err: (err as Error).message }, 'presence refresh failed'),
        );
      } while (this.refreshAgain && !this.closed);
    } finally {
      this.refreshing = false;
    }
  }

  /** Nodes with an unexpired presence for the inbox (this one included). */
  private async liveNodes(inbox: string): Promise<readonly string[]> {
    const all = await this.conn.client.hgetall(this.presenceKey(inbox));
    return liveNodes(Object.entries(all).flat());
  }

  override async subscribe(inbox: string, sink: LiveSink): Promise<boolean> {
    this.subscribeLocal(inbox, sink);
    try {
      return await this.setPresence(inbox);
    } catch (err) {
      // Local delivery works; other nodes store instead of forwarding until
      // the periodic refresh writes the presence.
      this.logger.warn({ err: (err as Error).message }, 'presence write failed');
      return true;
    }
  }

  override unsubscribe(inbox: string, sink: LiveSink): void {
    const had = this.hasLocal(inbox);
    this.unsubscribeLocal(inbox, sink);
    if (had && !this.hasLocal(inbox) && !this.closed) void this.clearPresence(inbox);
  }

  override async publish(
    inbox: string,
    msg: LiveMessage,
    present?: readonly string[],
  ): Promise<boolean> {
    const local = this.offerLocal(inbox, msg, false);
    let nodes: readonly string[];
    try {
      nodes = present ?? (await this.liveNodes(inbox));
    } catch {
      if ((await local.result) === 'taken') return true;
      throw new RelayError('unavailable', 'The relay cannot reach its store now.');
    }
    const remote = nodes.filter((n) => n !== this.nodeId);
    const results = await Promise.all([
      local.result,
      ...remote.map((n) => this.forward(n, inbox, msg)),
    ]);
    // An ack-mode session anywhere receives only from the store: store it.
    const taken = !results.includes('ack') && results.includes('taken');
    // Written here and stored all the same: the local sinks must know first.
    if (!taken && results[0] === 'taken') local.keep();
    return taken;
  }

  private forward(nodeId: string, inbox: string, msg: LiveMessage): Promise<LocalDelivery> {
    const rid = this.nextRid++;
    return new Promise<LocalDelivery>((resolve) => {
      const timer = setTimeout(() => settle('refused'), FORWARD_TIMEOUT_MS);
      const settle = (result: LocalDelivery) => {
        clearTimeout(timer);
        this.pending.delete(rid);
        resolve(result);
      };
      this.pending.set(rid, settle);
      const env: Envelope = {
        k: 'fwd',
        rid,
        from: this.nodeId,
        inbox,
        id: msg.id,
        t: msg.t,
        ttlMs: msg.ttlMs,
        binary: msg.binary,
      };
      this.send(nodeId, encode(env, msg.body)).then(
        (receivers) => receivers === 0 && settle('refused'), // nobody listens: the node is gone
        () => settle('refused'),
      );
    });
  }

  override async notifyStored(inbox: string, present?: readonly string[]): Promise<void> {
    this.wakeLocal(inbox);
    const nodes = present ?? (await this.liveNodes(inbox).catch(() => [] as string[]));
    const others = nodes.filter((n) => n !== this.nodeId);
    // Most stored POSTs found nobody present: nothing to encode or send.
    if (others.length === 0) return;
    const wake = encode({ k: 'wake', inbox });
    await Promise.all(others.map((n) => this.send(n, wake).catch(() => 0)));
  }

  /** A message on this node's channel. Nothing it holds may throw out of the Redis callback. */
  private onMessage(buf: Buffer): void {
    try {
      const { env, body } = decode(buf);
      if (env.k === 'ack') {
        this.pending.get(env.rid)?.(env.result);
      } else if (env.k === 'wake') {
        this.wakeLocal(env.inbox);
      } else if (env.k === 'fwd') {
        const { inbox, id, t, ttlMs, binary } = env;
        // Kept whatever happens here: the sender stores it if our answer is
        // late or lost, which this node cannot know.
        void this.deliverLocal(inbox, { id, t, ttlMs, binary, body }, true)
          .catch((): LocalDelivery => 'refused')
          .then((result) => this.send(env.from, encode({ k: 'ack', rid: env.rid, result })))
          .catch(() => {});
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'unreadable hub message ignored');
    }
  }

  override async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refreshTimer);
    for (const settle of this.pending.values()) settle('refused');
    await inBatches(this.localInboxes(), (inbox) => this.clearPresence(inbox));
    await super.close();
  }
}
