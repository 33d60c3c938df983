import { describe, expect, it } from 'vitest';
import type { LiveMessage, LiveSink } from '../../src/hub/hub.js';
import { LocalHub } from '../../src/hub/local-hub.js';

const msg: LiveMessage = {
  id: '1',
  body: Buffer.from('x'),
  binary: false,
  t: 0,
  ttlMs: 1000,
  store: true,
};

/** A sink that takes (or refuses) and later reports the write as `written`. */
function sink(takes: boolean, written: boolean): LiveSink & { offered: number; woken: number } {
  return {
    ackMode: false,
    offered: 0,
    woken: 0,
    offer(_m, done) {
      this.offered++;
      if (takes) setImmediate(done, written);
      return takes;
    },
    wake() {
      this.woken++;
    },
  };
}

function hubWithLog() {
  const undelivered: string[] = [];
  const hub = new LocalHub((inbox) => undelivered.push(inbox));
  return { hub, undelivered };
}

const settle = () => new Promise((r) => setImmediate(() => setImmediate(r)));

describe('LocalHub', () => {
  it('publish with no sink resolves false and stores nothing itself', async () => {
    const { hub, undelivered } = hubWithLog();
    expect(await hub.publish('a', msg)).toBe(false);
    await settle();
    expect(undelivered).toEqual([]);
  });

  it('offers to every sink of the inbox and only that inbox', async () => {
    const { hub } = hubWithLog();
    const [a1, a2, b] = [sink(true, true), sink(true, true), sink(true, true)];
    await hub.subscribe('a', a1);
    await hub.subscribe('a', a2);
    await hub.subscribe('b', b);
    expect(await hub.publish('a', msg)).toBe(true);
    expect([a1.offered, a2.offered, b.offered]).toEqual([1, 1, 0]);
  });

  it('false when every sink refuses (slow or closed): the caller stores', async () => {
    const { hub, undelivered } = hubWithLog();
    await hub.subscribe('a', sink(false, false));
    expect(await hub.publish('a', msg)).toBe(false);
    await settle();
    expect(undelivered).toEqual([]);
  });

  it('hands the message to `undelivered` once when every sink that took it failed to write', async () => {
    const { hub, undelivered } = hubWithLog();
    await hub.subscribe('a', sink(true, false));
    await hub.subscribe('a', sink(true, false));
    await hub.subscribe('a', sink(false, false));
    expect(await hub.publish('a', msg)).toBe(true);
    await settle();
    expect(undelivered).toEqual(['a']);
  });

  it('does not store when at least one sink wrote it', async () => {
    const { hub, undelivered } = hubWithLog();
    await hub.subscribe('a', sink(true, false));
    await hub.subscribe('a', sink(true, true));
    await hub.publish('a', msg);
    await settle();
    expect(undelivered).toEqual([]);
  });

  it('notifyStored wakes the sinks of the inbox; unsubscribe stops offers', async () => {
    const { hub } = hubWithLog();
    const s = sink(true, true);
    const off = await hub.subscribe('a', s);
    await hub.notifyStored('a');
    await hub.notifyStored('b');
    expect(s.woken).toBe(1);
    off();
    expect(await hub.publish('a', msg)).toBe(false);
    expect(s.offered).toBe(0);
  });
});
