import { describe, expect, it } from 'vitest';
import { WRITE_TIMEOUT_MS, type LiveMessage, type LiveSink } from '../../src/hub/hub.js';
import { LocalHub } from '../../src/hub/local-hub.js';

const msg: LiveMessage = { id: '1', body: Buffer.from('x'), binary: false, t: 0, ttlMs: 1000 };

/** A sink whose write reports `written` after `ms` (never: a write that hangs). */
function sink(
  written: boolean,
  ms: number | 'never' = 0,
): LiveSink & {
  offered: number;
  woken: number;
  writes: Promise<boolean>[];
  kept: [string, Promise<boolean>][];
} {
  return {
    ackMode: false,
    offered: 0,
    woken: 0,
    writes: [],
    kept: [],
    deliver() {
      this.offered++;
      const write =
        ms === 'never'
          ? new Promise<boolean>(() => {})
          : new Promise<boolean>((resolve) => setTimeout(resolve, ms, written));
      this.writes.push(write);
      return write;
    },
    keepWrite(id, write) {
      this.kept.push([id, write]);
    },
    wake() {
      this.woken++;
    },
  };
}

describe('LocalHub', () => {
  it('publish with no sink resolves false (the caller stores)', async () => {
    expect(await new LocalHub().publish('a', msg)).toBe(false);
  });

  it('offers to every sink of the inbox and only that inbox', async () => {
    const hub = new LocalHub();
    const [a1, a2, b] = [sink(true), sink(true), sink(true)];
    await hub.subscribe('a', a1);
    await hub.subscribe('a', a2);
    await hub.subscribe('b', b);
    expect(await hub.publish('a', msg)).toBe(true);
    expect([a1.offered, a2.offered, b.offered]).toEqual([1, 1, 0]);
  });

  it('false when every write fails (closed, slow): the caller stores', async () => {
    const hub = new LocalHub();
    await hub.subscribe('a', sink(false));
    await hub.subscribe('a', sink(false, 5));
    expect(await hub.publish('a', msg)).toBe(false);
  });

  it('true only once a write completed, even when another sink failed', async () => {
    const hub = new LocalHub();
    await hub.subscribe('a', sink(false));
    await hub.subscribe('a', sink(true, 30));
    const started = Date.now();
    expect(await hub.publish('a', msg)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('false when no write completes within the write timeout', async () => {
    const hub = new LocalHub();
    await hub.subscribe('a', sink(true, 'never'));
    const started = Date.now();
    expect(await hub.publish('a', msg)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(WRITE_TIMEOUT_MS - 5);
  });

  it('hands every write still running at the timeout back to its sink, before answering', async () => {
    const hub = new LocalHub();
    const [late, failed] = [sink(true, 'never'), sink(false)];
    await hub.subscribe('a', late);
    await hub.subscribe('a', failed);
    const answer = hub.publish('a', msg);
    await new Promise((r) => setTimeout(r, 20));
    expect(late.kept).toEqual([]); // still waiting
    expect(await answer).toBe(false);
    // The caller stores the message once it has the answer: the sink knows by then.
    expect(late.kept).toEqual([[msg.id, late.writes[0]]]);
  });

  it('keeps nothing when a write completes in time or every write fails', async () => {
    const hub = new LocalHub();
    const [fast, other] = [sink(true, 5), sink(false, 5)];
    await hub.subscribe('a', fast);
    await hub.subscribe('b', other);
    expect(await hub.publish('a', msg)).toBe(true);
    expect(await hub.publish('b', msg)).toBe(false);
    await new Promise((r) => setTimeout(r, WRITE_TIMEOUT_MS + 20));
    expect(fast.kept).toEqual([]);
    expect(other.kept).toEqual([]);
  });

  it('false without offering when an ack-mode sink is subscribed', async () => {
    const hub = new LocalHub();
    const legacy = sink(true);
    await hub.subscribe('a', legacy);
    await hub.subscribe('a', { ...sink(true), ackMode: true });
    expect(await hub.publish('a', msg)).toBe(false);
    expect(legacy.offered).toBe(0);
  });

  it('notifyStored wakes the sinks of the inbox; unsubscribe stops offers', async () => {
    const hub = new LocalHub();
    const s = sink(true);
    await hub.subscribe('a', s);
    expect(hub.localCount('a')).toBe(1);
    await hub.notifyStored('a');
    await hub.notifyStored('b');
    expect(s.woken).toBe(1);
    hub.unsubscribe('a', s);
    expect(hub.localCount('a')).toBe(0);
    expect(await hub.publish('a', msg)).toBe(false);
    expect(s.offered).toBe(0);
  });
});
