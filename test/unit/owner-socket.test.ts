/** Session delivery logic against a socket whose writes the test controls. */
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { generateKeys, type OwnerKeys } from '../../src/client/keys.js';
import { WRITE_TIMEOUT_MS, type LiveMessage } from '../../src/hub/hub.js';
import { LocalHub } from '../../src/hub/local-hub.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RelayError } from '../../src/errors.js';
import { OwnerSocket } from '../../src/ws/owner-socket.js';
import { sessionDeps } from '../helpers/session-deps.js';
import { solutionFor, waitFor } from '../helpers/socket.js';

type Cb = (err?: Error) => void;

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  /** Writes are held until the test completes or fails them. */
  held: { data: string; cb?: Cb }[] = [];
  holdWrites = false;
  send(data: string | Uint8Array, opts?: unknown, cb?: Cb) {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString();
    if (typeof opts === 'function') cb = opts as Cb;
    if (this.holdWrites && cb) this.held.push({ data: text, cb });
    else {
      this.sent.push(text);
      if (cb) setImmediate(cb);
    }
  }
  completeHeld(n: number) {
    for (const w of this.held.splice(0, n)) {
      this.sent.push(w.data);
      setImmediate(() => w.cb?.());
    }
  }
  die() {
    this.readyState = 3;
    for (const w of this.held.splice(0)) setImmediate(() => w.cb?.(new Error('closed')));
    this.emit('close', 1006, Buffer.from(''));
  }
  close() {
    this.readyState = 3;
  }
  terminate() {}
}

interface Shared {
  keys: OwnerKeys;
  store: MemoryStore;
  hub: LocalHub;
}

/** A session on a fake socket; pass `shared` for another socket of the same owner. */
function setup(maxBufferedBytes = 1_000_000, shared?: Shared) {
  const keys = shared?.keys ?? generateKeys();
  const store = shared?.store ?? new MemoryStore({ cleanPeriodMs: 60_000 });
  const hub = shared?.hub ?? new LocalHub();
  const ws = new FakeSocket();
  const session = new OwnerSocket(
    ws as unknown as WebSocket,
    keys.id,
    sessionDeps({ store, hub, maxBufferedBytes }),
  );
  const frame = (obj: unknown) => ws.emit('message', Buffer.from(JSON.stringify(obj)), false);
  /** Asks a challenge and sends its solution (with `extra` fields), not waiting for the answer. */
  const solve = async (extra: Record<string, unknown> = {}) => {
    frame({ get: 'challenge' });
    await waitFor(() => ws.sent.length === 1);
    const { challenge } = JSON.parse(ws.sent.pop()!) as { challenge: { txt: string; sig: string } };
    frame({ ...solutionFor(keys, challenge), ...extra });
  };
  const handshake = async () => {
    await solve();
    await waitFor(() => ws.sent.length === 1);
    expect(ws.sent.pop()).toBe('{"message":"handshake done"}');
    await waitFor(() => session.state === 'live');
  };
  const append = (text: string) =>
    store.append(keys.id, { body: Buffer.from(text), binary: false, ttlMs: 60_000, t: Date.now() });
  const live = (text: string): LiveMessage => ({
    id: text,
    body: Buffer.from(text),
    binary: false,
    t: Date.now(),
    ttlMs: 60_000,
  });
  /** What is stored and not leased (peeked: leased, then released). */
  const left = async () => {
    const msgs = await store.lease(keys.id, 1000, 60_000);
    await store.release(
      keys.id,
      msgs.map((m) => m.id),
    );
    return msgs.map((m) => Buffer.from(m.body).toString());
  };
  return { keys, store, hub, ws, session, frame, solve, handshake, append, live, left };
}

describe('Session delivery', () => {
  it('asks both limits of a challenge at once; refused by both, the failed handshakes speak', async () => {
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const deps = sessionDeps();
    deps.limits = {
      ...deps.limits,
      checkAuth: async () => {
        started.push('failures');
        await gate;
        throw new RelayError('rate_limited', 'Too many failed handshakes from this address.');
      },
      challenge: async () => {
        started.push('challenges');
        await gate;
        throw new RelayError('rate_limited', 'Too many handshakes from this address.');
      },
    };
    const ws = new FakeSocket();
    new OwnerSocket(ws as unknown as WebSocket, generateKeys().id, deps);
    ws.emit('message', Buffer.from('{"get":"challenge"}'), false);
    // Both were asked before either answered: on Redis, one round trip.
    await waitFor(() => started.length === 2);
    expect(started.sort()).toEqual(['challenges', 'failures']);
    release();
    await waitFor(() => ws.sent.length === 1);
    expect(JSON.parse(ws.sent[0]!)).toEqual({
      error: 'rate_limited',
      message: 'Too many failed handshakes from this address.',
    });
  });

  it('removes a stored message only after its write completed', async () => {
    const s = setup();
    await s.append('a');
    await s.append('b');
    s.ws.holdWrites = true;
    await s.handshake();
    await waitFor(() => s.ws.held.length === 2);
    s.ws.completeHeld(1);
    await waitFor(() => s.ws.sent.length === 1);
    s.ws.die();
    await waitFor(() => s.session.state === 'closed');
    // 'a' was written and removed; 'b' was not written and is still stored.
    await waitFor(async () => (await s.left()).length === 1);
    expect(await s.left()).toEqual(['b']);
  });

  it('a socket that dies mid-flush leaves every unwritten message stored, in order', async () => {
    const s = setup();
    for (let i = 0; i < 10; i++) await s.append(`m${i}`);
    s.ws.holdWrites = true;
    await s.handshake();
    await waitFor(() => s.ws.held.length === 10);
    s.ws.completeHeld(3);
    s.ws.die();
    await new Promise((r) => setTimeout(r, 20));
    expect(await s.left()).toEqual(['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
  });

  it('refuses live messages while over maxBufferedBytes (the hub then stores them)', async () => {
    const s = setup(1000);
    await s.handshake();
    await waitFor(() => !s.session['flushing' as keyof OwnerSocket]);
    expect(await s.hub.publish(s.keys.id, s.live('fits'))).toBe(true);
    s.ws.bufferedAmount = 5000;
    expect(await s.hub.publish(s.keys.id, s.live('refused'))).toBe(false);
    s.ws.bufferedAmount = 0;
    expect(await s.hub.publish(s.keys.id, s.live('fits again'))).toBe(true);
  });

  it('reports a failed live write, so the publish resolves false and the caller stores', async () => {
    const s = setup();
    await s.handshake();
    await waitFor(() => !s.session['flushing' as keyof OwnerSocket]);
    s.ws.holdWrites = true;
    const published = s.hub.publish(s.keys.id, s.live('lost write'));
    await waitFor(() => s.ws.held.length === 1);
    s.ws.die();
    expect(await published).toBe(false);
  });

  it('resolves a live publish only once the frame was written', async () => {
    const s = setup();
    await s.handshake();
    await waitFor(() => !s.session['flushing' as keyof OwnerSocket]);
    s.ws.holdWrites = true;
    let settled = false;
    const published = s.hub.publish(s.keys.id, s.live('slow')).then((r) => {
      settled = true;
      return r;
    });
    await waitFor(() => s.ws.held.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    s.ws.completeHeld(1);
    expect(await published).toBe(true);
  });

  it('holds live messages during a flush and writes them after the stored ones', async () => {
    const s = setup();
    await s.append('stored');
    s.ws.holdWrites = true;
    await s.handshake();
    await waitFor(() => s.ws.held.length === 1); // the flush is writing 'stored'
    let settled = false;
    const published = s.hub.publish(s.keys.id, s.live('live')).then((r) => {
      settled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false); // held, not refused: the POST waits for the write
    expect(s.ws.held).toHaveLength(1);
    s.ws.holdWrites = false;
    s.ws.completeHeld(1);
    expect(await published).toBe(true);
    expect(s.ws.sent).toEqual(['stored', 'live']);
    expect(await s.left()).toEqual([]); // taken live: nothing stored
  });

  it("every socket of the owner gets a live message that came during one socket's flush", async () => {
    const a = setup();
    const b = setup(1_000_000, a);
    await a.handshake();
    await waitFor(() => !a.session['flushing' as keyof OwnerSocket]);
    await a.append('stored');
    b.ws.holdWrites = true;
    await b.handshake();
    await waitFor(() => b.ws.held.length === 1); // B flushes 'stored'
    // A writes it at once, so the POST is answered as delivered and nothing is
    // stored: B must still get it, after its flush.
    expect(await a.hub.publish(a.keys.id, a.live('one'))).toBe(true);
    expect(a.ws.sent).toEqual(['one']);
    b.ws.holdWrites = false;
    b.ws.completeHeld(1);
    await waitFor(() => b.ws.sent.length === 2);
    expect(b.ws.sent).toEqual(['stored', 'one']);
    expect(await a.hub.publish(a.keys.id, a.live('two'))).toBe(true);
    await waitFor(() => b.ws.sent.length === 3 && a.ws.sent.length === 2);
    expect(b.ws.sent).toEqual(['stored', 'one', 'two']);
    expect(a.ws.sent).toEqual(['one', 'two']);
  });

  it('refuses live messages past the buffer limit while flushing (held bytes count)', async () => {
    const s = setup(1000);
    await s.append('stored');
    s.ws.holdWrites = true;
    await s.handshake();
    await waitFor(() => s.ws.held.length === 1);
    const big = (text: string) => ({ ...s.live(text), body: Buffer.alloc(600, text) });
    const first = s.hub.publish(s.keys.id, big('a')); // 600 held: fits
    // 600 + 600 > 1000: refused at once, so the caller stores it.
    expect(await s.hub.publish(s.keys.id, big('b'))).toBe(false);
    s.ws.holdWrites = false;
    s.ws.completeHeld(1);
    expect(await first).toBe(true);
    expect(s.ws.sent.map((m) => m[0])).toEqual(['s', 'a']);
  });

  it('a held message whose stored copy the flush leases is written once, in order', async () => {
    const s = setup();
    await s.append('first');
    s.ws.holdWrites = true;
    await s.handshake();
    await waitFor(() => s.ws.held.length === 1);
    // The hub waits WRITE_TIMEOUT_MS for the held write, then answers "not
    // taken"; the caller stores the message under the id it reserved.
    const reserved = await s.store.reserve(s.keys.id);
    const msg = { ...s.live('again'), id: reserved.id! };
    const offered = s.session.deliver(msg); // what the hub waited for, held
    let settled = false;
    void offered.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, WRITE_TIMEOUT_MS + 20));
    expect(settled).toBe(false);
    await s.store.append(s.keys.id, { ...msg, body: Buffer.from('again') });
    void s.hub.notifyStored(s.keys.id);
    s.ws.holdWrites = false;
    s.ws.completeHeld(1);
    await waitFor(async () => (await s.left()).length === 0);
    // Not a live delivery: it went out as the stored copy (counted as flushed).
    expect(await offered).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.ws.sent).toEqual(['first', 'again']);
  });

  for (const when of ['still pending', 'done'] as const) {
    it(`a live message stored because its write was late is not written again by the flush (write ${when})`, async () => {
      const s = setup();
      await s.handshake();
      await waitFor(() => !s.session['flushing' as keyof OwnerSocket]);
      s.ws.holdWrites = true;
      const reserved = await s.store.reserve(s.keys.id);
      const msg = { ...s.live('late'), id: reserved.id! };
      // The hub waits WRITE_TIMEOUT_MS for the write, then answers "not taken"...
      expect(await s.hub.publish(s.keys.id, msg)).toBe(false);
      expect(s.ws.held.length).toBe(1);
      if (when === 'done') {
        s.ws.completeHeld(1);
        await waitFor(() => s.ws.sent.length === 1);
      }
      // ...so the caller stores it and wakes the socket, whose flush leases the stored copy.
      await s.store.append(s.keys.id, { ...msg, body: Buffer.from('late') });
      await s.hub.notifyStored(s.keys.id);
      await new Promise((r) => setTimeout(r, 20));
      // The flush waits for the live write instead of writing the message a second time.
      expect(s.ws.held.length).toBe(when === 'done' ? 0 : 1);
      s.ws.holdWrites = false;
      s.ws.completeHeld(1);
      await waitFor(async () => (await s.left()).length === 0);
      await new Promise((r) => setTimeout(r, 20));
      expect(s.ws.sent).toEqual(['late']);
    });
  }

  it('a live message held by a flush, given up by the hub and stored, goes out once', async () => {
    const s = setup();
    await s.append('old');
    s.ws.holdWrites = true;
    await s.handshake();
    await waitFor(() => s.ws.held.length === 1); // the flush is writing 'old'
    const reserved = await s.store.reserve(s.keys.id);
    const msg = { ...s.live('late'), id: reserved.id! };
    // Held behind the flush; the hub gives up after WRITE_TIMEOUT_MS...
    expect(await s.hub.publish(s.keys.id, msg)).toBe(false);
    // ...the flush ends before the caller stores it, and writes the held message live.
    s.ws.completeHeld(1);
    await waitFor(() => s.ws.held.length === 1 && !s.session['flushing' as keyof OwnerSocket]);
    expect(s.ws.held[0]!.data).toBe('late');
    // Now stored, and the socket woken: its flush must not write the stored copy too.
    await s.store.append(s.keys.id, { ...msg, body: Buffer.from('late') });
    await s.hub.notifyStored(s.keys.id);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.ws.held.length).toBe(1); // the flush waits for the live write
    s.ws.holdWrites = false;
    s.ws.completeHeld(s.ws.held.length);
    await waitFor(async () => (await s.left()).length === 0);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.ws.sent).toEqual(['old', 'late']);
  });

  it('a socket that closes while holding live messages refuses them (the caller stores them)', async () => {
    const a = setup();
    await a.append('stored');
    a.ws.holdWrites = true;
    await a.handshake();
    await waitFor(() => a.ws.held.length === 1); // flushing
    // The socket's own answers (the hub would give up after WRITE_TIMEOUT_MS anyway).
    const duringFlush = a.session.deliver(a.live('held in a flush'));
    a.ws.die();
    expect(await duringFlush).toBe(false);

    // Closed while its hub subscription is still being made (no flush runs yet).
    const b = setup();
    let resolveSubscribe!: () => void;
    const realSubscribe = b.hub.subscribe.bind(b.hub);
    b.hub.subscribe = async (inbox, sink) => {
      await new Promise<void>((r) => (resolveSubscribe = r));
      return realSubscribe(inbox, sink);
    };
    await b.solve();
    await waitFor(() => resolveSubscribe !== undefined);
    const duringSubscribe = b.session.deliver(b.live('held while subscribing'));
    b.ws.die();
    expect(await duringSubscribe).toBe(false);
    resolveSubscribe();
    expect(a.ws.sent).toEqual([]);
    expect(b.ws.sent).toEqual([]);
  });

  it('reads the store only after the hub subscription resolved (the ordering premise)', async () => {
    const s = setup();
    const calls: string[] = [];
    let resolveSubscribe!: () => void;
    const realSubscribe = s.hub.subscribe.bind(s.hub);
    s.hub.subscribe = async (inbox, sink) => {
      calls.push('subscribe called');
      await new Promise<void>((r) => (resolveSubscribe = r));
      calls.push('subscribe resolved');
      return realSubscribe(inbox, sink);
    };
    const realLease = s.store.lease.bind(s.store);
    s.store.lease = (...args) => {
      calls.push('lease');
      return realLease(...args);
    };
    await s.append('stored');
    await s.solve();
    await waitFor(() => calls.includes('subscribe called'));
    // Nothing reads the store while the subscription is pending.
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual(['subscribe called']);
    resolveSubscribe();
    await waitFor(() => s.ws.sent.length === 2);
    expect(calls.slice(0, 3)).toEqual(['subscribe called', 'subscribe resolved', 'lease']);
    expect(s.ws.sent).toEqual(['{"message":"handshake done"}', 'stored']);
  });

  it('skips the first flush only when the hub says nothing was stored, and nothing woke it since', async () => {
    /** A hub whose subscription resolves `mayHold` once the test lets it. */
    const gated = (s: ReturnType<typeof setup>, mayHold: boolean) => {
      let open!: () => void;
      const realSubscribe = s.hub.subscribe.bind(s.hub);
      s.hub.subscribe = async (inbox, sink) => {
        await realSubscribe(inbox, sink); // reachable at once...
        await new Promise<void>((r) => (open = r)); // ...resolved when the test says
        return mayHold;
      };
      let leases = 0;
      const realLease = s.store.lease.bind(s.store);
      s.store.lease = (...args) => {
        leases++;
        return realLease(...args);
      };
      const handshake = async () => {
        await s.solve();
        await waitFor(() => open !== undefined);
      };
      return { handshake, open: () => open(), leases: () => leases };
    };

    // Nothing stored: no lease at all; a live message that came meanwhile is written.
    const a = setup();
    const ga = gated(a, false);
    await ga.handshake();
    const live = a.hub.publish(a.keys.id, a.live('meanwhile'));
    ga.open();
    expect(await live).toBe(true);
    expect(a.ws.sent).toEqual(['{"message":"handshake done"}', 'meanwhile']);
    await new Promise((r) => setTimeout(r, 20));
    expect(ga.leases()).toBe(0);

    // Nothing stored when subscribing, but a wake came meanwhile: it flushes.
    const b = setup();
    const gb = gated(b, false);
    await gb.handshake();
    await b.append('stored meanwhile');
    await b.hub.notifyStored(b.keys.id);
    gb.open();
    await waitFor(() => b.ws.sent.includes('stored meanwhile'));
    expect(gb.leases()).toBeGreaterThan(0);

    // The hub cannot tell (or something was stored): the first flush runs.
    const c = setup();
    const gc = gated(c, true);
    await c.append('stored before');
    await gc.handshake();
    gc.open();
    await waitFor(() => c.ws.sent.includes('stored before'));
  });

  it('never loses a wake that lands while a flush is finishing', async () => {
    const s = setup();
    await s.handshake();
    for (let i = 0; i < 60; i++) {
      // A flush starts on an empty store and finishes a few microtasks later;
      // the message is stored and its wake sent at varying points of that.
      void s.hub.notifyStored(s.keys.id);
      for (let k = 0; k < i % 20; k++) await Promise.resolve();
      void s.append(`w${i}`);
      void s.hub.notifyStored(s.keys.id);
      await waitFor(() => s.ws.sent.includes(`w${i}`), 500);
    }
    expect(s.ws.sent.filter((m) => m.startsWith('w'))).toHaveLength(60);
  });

  it("a socket that leaves with leased messages unwritten wakes the owner's other sockets", async () => {
    const a = setup();
    const b = setup(1_000_000, a);
    await b.handshake(); // online and idle
    await a.append('leased by A');
    a.ws.holdWrites = true;
    await a.handshake();
    await waitFor(() => a.ws.held.length === 1); // A leased it and is writing it
    a.ws.die(); // ...and dies before the write completes: released
    await waitFor(() => b.ws.sent.includes('leased by A'), 1000);
  });

  it("an ack-mode socket that leaves with unacknowledged messages wakes the owner's other sockets", async () => {
    const a = setup();
    const b = setup(1_000_000, a);
    await b.handshake();
    await a.append('unacked by A');
    await a.solve({ ack: true });
    await waitFor(() => a.ws.sent.some((m) => m.includes('unacked by A')));
    a.ws.die(); // never acknowledged: released
    await waitFor(() => b.ws.sent.includes('unacked by A'), 1000);
  });
});
