/** The gateway's heartbeat goes through the sockets in slices, never all in one turn. */
import { describe, expect, it } from 'vitest';
import { Gateway, HEARTBEAT_SLICE } from '../../src/ws/gateway.js';
import type { OwnerSocket } from '../../src/ws/owner-socket.js';
import { sessionDeps } from '../helpers/session-deps.js';

function gateway(): Gateway {
  return new Gateway({
    ...sessionDeps(),
    heartbeatMs: 3_600_000, // the test runs the beats itself
    maxMessageBytes: 1_000_000,
  });
}

/** A session as far as the heartbeat sees it; every ping and wake goes to `log`. */
function fakeSession(i: number, log: string[]): OwnerSocket {
  return {
    alive: true,
    overLimit: false,
    ws: {
      bufferedAmount: 0,
      ping: () => log.push(`ping ${i}`),
      terminate: () => log.push(`terminate ${i}`),
    },
    wake: () => log.push(`wake ${i}`),
    fail: () => {},
  } as unknown as OwnerSocket;
}

const beat = (g: Gateway) => (g as unknown as { beat(): void }).beat();
const turn = () => new Promise((r) => setImmediate(r));

describe('Gateway heartbeat', () => {
  it('pings HEARTBEAT_SLICE sockets per turn of the event loop, each once per beat', async () => {
    const g = gateway();
    const log: string[] = [];
    const n = 2 * HEARTBEAT_SLICE + 500;
    for (let i = 0; i < n; i++) g.sessions.add(fakeSession(i, log));
    try {
      setImmediate(() => log.push('other work')); // waiting for the next turn
      beat(g);
      beat(g); // due again while the first still runs: skipped (it would find no pong yet)
      const pings = () => log.filter((l) => l.startsWith('ping')).length;
      expect(pings()).toBe(HEARTBEAT_SLICE);
      for (let k = 0; k < 10 && pings() < n; k++) await turn();
      // Other work ran between the first slice and the second (a ping and a wake per socket).
      expect(log.indexOf('other work')).toBe(2 * HEARTBEAT_SLICE);
      expect(pings()).toBe(n);
      expect(new Set(log.filter((l) => l.startsWith('ping'))).size).toBe(n);
      expect(log.filter((l) => l.startsWith('wake'))).toHaveLength(n); // memory: re-flush
      expect(log.filter((l) => l.startsWith('terminate'))).toEqual([]);
    } finally {
      g.close();
    }
  });

  it('skips sockets that close while a beat runs, and stops when the gateway closes', async () => {
    const g = gateway();
    const log: string[] = [];
    const sessions = Array.from({ length: 3 * HEARTBEAT_SLICE }, (_, i) => fakeSession(i, log));
    for (const s of sessions) g.sessions.add(s);
    beat(g);
    // Closed before their turn: never pinged.
    for (const s of sessions.slice(-HEARTBEAT_SLICE)) g.sessions.delete(s);
    await turn();
    await turn();
    expect(log.filter((l) => l.startsWith('ping'))).toHaveLength(2 * HEARTBEAT_SLICE);

    const h = gateway();
    const other: string[] = [];
    for (let i = 0; i < 2 * HEARTBEAT_SLICE; i++) h.sessions.add(fakeSession(i, other));
    beat(h);
    h.close();
    await turn();
    await turn();
    expect(other.filter((l) => l.startsWith('ping'))).toHaveLength(HEARTBEAT_SLICE);
    g.close();
  });
});
