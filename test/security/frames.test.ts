/**
 * Bounded work per socket: an ack flood costs no store call for ids not in
 * flight and queues no work; a handshake-frame flood is paused, then closed;
 * the challenge keyring stays O(1) and bounded however fast challenges come.
 */
import { describe, expect, it } from 'vitest';
import { ChallengeKeyring, MAX_LIVE_KEYS } from '../../src/auth/keyring.js';
import { generateKeys } from '../../src/client/keys.js';
import type { Engine } from '../../src/engine.js';
import { startRelay } from '../helpers/relay.js';
import { authedSocket, postText, TestSocket, waitFor } from '../helpers/socket.js';

/** Counts the store's remove calls and the ids they carry. */
function countingRemoves() {
  const calls: string[][] = [];
  const hook = (engine: Engine): Engine => {
    const remove = engine.store.remove.bind(engine.store);
    engine.store.remove = (inbox, ids) => {
      calls.push([...ids]);
      return remove(inbox, ids);
    };
    return engine;
  };
  return { calls, hook };
}

describe('ack floods', () => {
  it('ids not in flight cost no store call; in-flight ones are removed; the relay stays responsive', async () => {
    const { calls, hook } = countingRemoves();
    const t = await startRelay({ ackWindow: 10 }, 'silent', { engine: hook });
    try {
      const keys = generateKeys();
      const { json } = await postText(t.url, keys.id, 'real');
      const s = await authedSocket(t.wsUrl, keys, { ack: true });
      const env = (await s.nextJson()) as { id: string };
      expect(env.id).toBe(json.id);
      const bogus = Array.from({ length: 1000 }, (_, i) => String(1e15 + i));
      for (let i = 0; i < 300; i++) s.send({ ack: bogus });
      // The relay answers others while the flood is processed.
      expect((await fetch(`${t.url}/health`)).status).toBe(200);
      s.send({ ack: [env.id] });
      await waitFor(() => calls.length > 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(calls).toEqual([[env.id]]);
      expect(s.ws.readyState).toBe(s.ws.OPEN);
      s.close();
    } finally {
      await t.close();
    }
  });

  it('an ack frame with more ids than the cap is ignored', async () => {
    const { calls, hook } = countingRemoves();
    const t = await startRelay({}, 'silent', { engine: hook });
    try {
      const keys = generateKeys();
      await postText(t.url, keys.id, 'x');
      const s = await authedSocket(t.wsUrl, keys, { ack: true });
      const env = (await s.nextJson()) as { id: string };
      s.send({ ack: [env.id, ...Array.from({ length: 1000 }, (_, i) => `n${i}`)] });
      await new Promise((r) => setTimeout(r, 100));
      expect(calls).toEqual([]);
      s.send({ ack: [env.id] });
      await waitFor(() => calls.length === 1);
      s.close();
    } finally {
      await t.close();
    }
  });
});

describe('handshake frame floods', () => {
  it('a flood of frames before the handshake is closed with 4029, costing at most 8 challenges', async () => {
    let issued = 0;
    const t = await startRelay({});
    try {
      const s = new TestSocket(`${t.wsUrl}/${generateKeys().id}`);
      await s.opened;
      s.listen((f) => f.text.startsWith('{"challenge"') && issued++);
      const frame = JSON.stringify({ get: 'challenge' });
      for (let i = 0; i < 5000; i++) s.ws.send(frame);
      const closed = await s.closed;
      expect(closed.code).toBe(4029);
      expect(issued).toBeLessThanOrEqual(8);
      expect((await fetch(`${t.url}/health`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('challenge keyring', () => {
  it('keeps at most MAX_LIVE_KEYS keys however fast challenges are asked, and they all verify', async () => {
    const keyring = new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 });
    const inbox = generateKeys().id;
    const first = await keyring.issue(inbox);
    for (let i = 0; i < 12_000; i++) await keyring.issue(inbox);
    expect(keyring.size).toBeLessThanOrEqual(MAX_LIVE_KEYS);
    const last = await keyring.issue(inbox);
    expect(await keyring.check(inbox, first)).toMatchObject({ ok: true });
    expect(await keyring.check(inbox, last)).toMatchObject({ ok: true });
  });

  it('drops every expired key (oldest first) and keeps the ones still needed', async () => {
    const clock = { now: 0 };
    const keyring = new ChallengeKeyring({
      freshKey: 1,
      challengeTtlMs: 1000,
      now: () => clock.now,
    });
    const inbox = generateKeys().id;
    for (let i = 0; i < 500; i++) await keyring.issue(inbox);
    expect(keyring.size).toBe(500);
    clock.now = 1500; // every challenge so far has expired
    const fresh = await keyring.issue(inbox);
    // The last key (current, used up) and the new one that signed `fresh`.
    expect(keyring.size).toBe(2);
    expect(await keyring.check(inbox, fresh)).toMatchObject({ ok: true });
  });
});
