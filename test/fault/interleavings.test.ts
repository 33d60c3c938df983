/**
 * Fault (d): interleavings of POST, connect (legacy or ack mode), disconnect
 * and ack, on one relay (memory) and on two relays sharing Redis, explored
 * with fast-check's scheduler: it decides in which order operations start,
 * when each handshake step is released, and when every store and hub call of
 * the relays runs (their engines are wrapped so each call waits for the
 * scheduler). Invariants: every message answered 200 reaches the owner;
 * while the owner has a live socket, without waiting for a new session (a
 * message must not sit in the store while its owner is online); otherwise it
 * is still stored and the next session gets it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys, type OwnerKeys } from '../../src/client/keys.js';
import type { Config } from '../../src/config.js';
import type { Engine } from '../../src/engine.js';
import type { RelayHooks } from '../../src/relay.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { postText, solutionFor, TestSocket, waitFor } from '../helpers/socket.js';
import { replayable } from '../helpers/fc.js';

let server: RedisServer;
/** The scheduler of the running property, or null: store and hub calls then run at once. */
let current: fc.Scheduler | null = null;

const GATED = new Set([
  'append',
  'reserveOrStore',
  'lease',
  'remove',
  'release',
  'publish',
  'subscribe',
  'notifyStored',
]);

/** A proxy whose listed methods first wait for the current scheduler's go. */
function gated<T extends object>(target: T, label: string): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== 'function' || !GATED.has(String(prop))) return value;
      return async (...args: unknown[]) => {
        if (current) await current.schedule(Promise.resolve(), `${label}.${String(prop)}`);
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

function gatedEngine(label: string): RelayHooks {
  return {
    engine: (e: Engine) => ({
      ...e,
      store: gated(e.store, label),
      hub: gated(e.hub, label),
      start: e.start,
      close: e.close,
    }),
  };
}

beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

type Op =
  | { kind: 'post'; node: number }
  | { kind: 'connect'; node: number; ack: boolean }
  | { kind: 'disconnect' }
  | { kind: 'ack' };

function opArb(nodes: number): fc.Arbitrary<Op> {
  const node = fc.integer({ min: 0, max: nodes - 1 });
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('post' as const), node }), weight: 3 },
    {
      arbitrary: fc.record({ kind: fc.constant('connect' as const), node, ack: fc.boolean() }),
      weight: 2,
    },
    { arbitrary: fc.constant({ kind: 'disconnect' as const }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'ack' as const }), weight: 1 },
  );
}

interface Sock {
  socket: TestSocket;
  ack: boolean;
  live: boolean;
  /** Ack mode: envelope ids received and not acknowledged yet. */
  unacked: string[];
}

interface World {
  relays: TestRelay[];
  keys: OwnerKeys;
  sockets: Sock[];
  accepted: string[];
  received: Set<string>;
  seq: number;
}

/** Collects every message after the handshake (legacy frames and ack envelopes). */
function track(socket: TestSocket, ack: boolean, world: World): Sock {
  const sock: Sock = { socket, ack, live: false, unacked: [] };
  world.sockets.push(sock);
  socket.ws.on('message', (data) => {
    const text = data.toString();
    if (!sock.live) {
      sock.live = text === '{"message":"handshake done"}';
      return;
    }
    if (!ack) return void world.received.add(text);
    const env = JSON.parse(text) as { id: string; data: string };
    world.received.add(env.data);
    sock.unacked.push(env.id);
  });
  return sock;
}

async function connectSocket(
  node: number,
  ack: boolean,
  world: World,
  s: fc.Scheduler,
): Promise<void> {
  const socket = new TestSocket(`${world.relays[node]!.wsUrl}/${world.keys.id}`);
  track(socket, ack, world);
  try {
    await s.schedule(socket.opened, 'opened');
    const challenge = await socket.challenge();
    await s.schedule(Promise.resolve(), 'before solution');
    if (socket.ws.readyState === socket.ws.OPEN) {
      socket.send({ ...solutionFor(world.keys, challenge), ...(ack ? { ack: true } : {}) });
    }
  } catch {
    // closed by a concurrent disconnect: part of the race
  }
}

/**
 * Runs the scheduler until `work` settles. Unlike waitFor, which releases a
 * parked call as soon as it appears, this lets real I/O (Redis, sockets) run
 * for a moment so that every concurrent call parks, then lets the scheduler
 * choose one among all of them: that is what explores the interleavings.
 */
async function drive(s: fc.Scheduler, work: Promise<unknown>): Promise<void> {
  let settled = false;
  const outcome = work.then(
    () => (settled = true),
    (err: unknown) => {
      settled = true;
      throw err;
    },
  );
  outcome.catch(() => {});
  while (!settled) {
    await new Promise((r) => setTimeout(r, 2));
    if (s.count() > 0) await s.waitOne();
  }
  await outcome;
}

async function run(op: Op, world: World, s: fc.Scheduler): Promise<void> {
  if (op.kind === 'post') {
    const body = `m${world.seq++}`;
    const res = await postText(world.relays[op.node]!.url, world.keys.id, body);
    if (res.status === 200) world.accepted.push(body);
    else throw new Error(`unexpected ${res.status}`);
  } else if (op.kind === 'connect') {
    await connectSocket(op.node, op.ack, world, s);
  } else if (op.kind === 'disconnect') {
    world.sockets.find((x) => x.socket.ws.readyState <= x.socket.ws.OPEN)?.socket.ws.close();
  } else {
    const sock = world.sockets.find(
      (x) => x.ack && x.unacked.length && x.socket.ws.readyState === x.socket.ws.OPEN,
    );
    if (sock) sock.socket.send({ ack: sock.unacked.splice(0) });
  }
}

async function property(relays: TestRelay[], s: fc.Scheduler, ops: Op[]): Promise<void> {
  const world: World = {
    relays,
    keys: generateKeys(),
    sockets: [],
    accepted: [],
    received: new Set(),
    seq: 0,
  };
  current = s;
  const running = ops.map((op) =>
    s.schedule(Promise.resolve(op), op.kind).then((o) => run(o, world, s)),
  );
  try {
    await drive(s, Promise.all(running));
  } finally {
    current = null;
    await s.waitAll(); // release calls still parked (background flushes)
  }
  const missing = () => world.accepted.filter((b) => !world.received.has(b));
  // The owner is online: everything must arrive on the open sockets, no new session needed.
  if (world.sockets.some((x) => x.live && x.socket.ws.readyState === x.socket.ws.OPEN)) {
    // Well under the 30 s heartbeat re-flush: delivery must not depend on it.
    await waitFor(() => missing().length === 0, 5000).catch(() => {});
    expect(missing()).toEqual([]);
  }
  // Close every socket (unacknowledged messages go back to the store), then one
  // final session collects whatever is stored.
  for (const x of world.sockets) x.socket.ws.close();
  await Promise.all(world.sockets.map((x) => x.socket.closed));
  const last = new TestSocket(`${relays[world.seq % relays.length]!.wsUrl}/${world.keys.id}`);
  track(last, world.seq % 2 === 0, world);
  await last.opened;
  last.send({
    ...solutionFor(world.keys, await last.challenge()),
    ...(world.seq % 2 === 0 ? { ack: true } : {}),
  });
  try {
    await waitFor(() => missing().length === 0, 5000);
  } finally {
    last.close();
  }
  expect(missing()).toEqual([]);
}

const setups: [string, number, () => Partial<Config>][] = [
  ['one relay (memory)', 1, () => ({})],
  ['two relays on Redis', 2, () => ({ redisUrl: server.url, redisPrefix: uniquePrefix() })],
];

for (const [name, nodes, engine] of setups) {
  describe(`interleavings of POST, connect, disconnect and ack: ${name}`, () => {
    let relays: TestRelay[];
    beforeAll(async () => {
      const config = engine();
      relays = await Promise.all(
        Array.from({ length: nodes }, (_, i) => startRelay(config, 'silent', gatedEngine(`N${i}`))),
      );
    });
    afterAll(async () => {
      await Promise.all(relays.map((r) => r.close()));
    });

    it('never loses an accepted message', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.array(opArb(nodes), { minLength: 1, maxLength: 10 }),
          (s, ops) => property(relays, s, ops),
        ),
        replayable(`interleavings on ${name}`, nodes === 1 ? 200 : 250),
      );
    }, 180_000);
  });
}
