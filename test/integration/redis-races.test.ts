/**
 * Connect/disconnect/POST races across relays on one Redis, explored with
 * fast-check's scheduler: it decides in which order operations start, when
 * each handshake step is released, and when every store and hub call of both
 * relays runs (the relays' engines are wrapped so each call waits for the
 * scheduler). Invariants: every message answered 200 reaches the owner;
 * while the owner has a live socket, without waiting for a new session (a
 * message must not sit in the store while its owner is online); otherwise
 * from the store at the next session.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys, type OwnerKeys } from '../../src/client/keys.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import type { Engine } from '../../src/engine.js';
import type { RelayHooks } from '../../src/relay.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { postText, solutionFor, TestSocket, waitFor } from '../helpers/socket.js';

let server: RedisServer;
let relays: TestRelay[];
/** The scheduler of the running property, or null: store and hub calls then run at once. */
let current: fc.Scheduler | null = null;

const GATED = new Set([
  'append',
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
  const shared = { redisUrl: server.url, redisPrefix: uniquePrefix() };
  relays = await Promise.all([
    startRelay(shared, 'silent', gatedEngine('A')),
    startRelay(shared, 'silent', gatedEngine('B')),
  ]);
});
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
  await server.stop();
});

type Op =
  { kind: 'post'; node: number } | { kind: 'connect'; node: number } | { kind: 'disconnect' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      node: fc.integer({ min: 0, max: 1 }),
    }),
    weight: 2,
  },
  fc.record({ kind: fc.constant('post' as const), node: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant('connect' as const), node: fc.integer({ min: 0, max: 1 }) }),
  fc.constant({ kind: 'disconnect' as const }),
);

interface World {
  keys: OwnerKeys;
  sockets: TestSocket[];
  /** Sockets that completed the handshake. */
  live: Set<TestSocket>;
  accepted: string[];
  received: Set<string>;
  seq: number;
}

/** Collects every frame after the handshake. */
function collect(s: TestSocket, world: World): void {
  let live = false;
  s.ws.on('message', (data) => {
    const text = data.toString();
    if (live) world.received.add(text);
    else if (text === '{"message":"handshake done"}') {
      live = true;
      world.live.add(s);
    }
  });
}

async function connectSocket(node: number, world: World, s: fc.Scheduler): Promise<void> {
  const sock = new TestSocket(`${relays[node]!.wsUrl}/${world.keys.id}`);
  world.sockets.push(sock);
  collect(sock, world);
  try {
    await s.schedule(sock.opened, 'opened');
    const challenge = await sock.challenge();
    await s.schedule(Promise.resolve(), 'before solution');
    if (sock.ws.readyState === sock.ws.OPEN) sock.send(solutionFor(world.keys, challenge));
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
    const res = await postText(relays[op.node]!.url, world.keys.id, body);
    if (res.status === 200) world.accepted.push(body);
    else throw new Error(`unexpected ${res.status}`);
  } else if (op.kind === 'connect') {
    await connectSocket(op.node, world, s);
  } else {
    world.sockets.find((x) => x.ws.readyState <= x.ws.OPEN)?.ws.close();
  }
}

describe('interleavings of POST, connect and disconnect on one and two relays', () => {
  it('never loses an accepted message', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(opArb, { minLength: 1, maxLength: 10 }),
        async (s, ops) => {
          const world: World = {
            keys: generateKeys(),
            sockets: [],
            live: new Set(),
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
          const allReceived = () => world.accepted.every((b) => world.received.has(b));
          // The owner is online: everything must arrive on the open sockets, no new session needed.
          if ([...world.live].some((x) => x.ws.readyState === x.ws.OPEN)) {
            await waitFor(allReceived, 3000).catch(() => {});
            expect(world.accepted.filter((b) => !world.received.has(b))).toEqual([]);
          }
          // Close every socket, then one final session collects whatever was stored.
          for (const sock of world.sockets) sock.ws.close();
          await Promise.all(world.sockets.map((sock) => sock.closed));
          const last = new TestSocket(`${relays[world.seq % 2]!.wsUrl}/${world.keys.id}`);
          collect(last, world);
          await last.opened;
          last.send(solutionFor(world.keys, await last.challenge()));
          try {
            await waitFor(allReceived, 5000);
          } finally {
            last.close();
          }
          expect(world.accepted.filter((b) => !world.received.has(b))).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);
});
