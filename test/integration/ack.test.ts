/** Ack mode (PROTOCOL.md §3.3) on the memory and the Redis engine, and the SDK's ack support. */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  generateKeys,
  post,
  type OwnerKeys,
  type WebSocketConstructor,
} from '../../src/client/index.js';
import type { Config } from '../../src/config.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, solutionFor, TestSocket, waitFor } from '../helpers/socket.js';

const WS = WebSocket as unknown as WebSocketConstructor;
let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

/** Opens an ack-mode session (checking the exact handshake answer). */
const ackSocket = (wsUrl: string, keys: OwnerKeys) => authedSocket(wsUrl, keys, { ack: true });

interface Envelope {
  id: string;
  t: number;
  data: string;
  binary?: boolean;
}

const engines: [string, () => Partial<Config>][] = [
  ['memory', () => ({})],
  ['redis', () => ({ redisUrl: server.url, redisPrefix: uniquePrefix() })],
];

for (const [name, engine] of engines) {
  describe(`ack mode on ${name}`, () => {
    let t: TestRelay;
    beforeAll(async () => {
      t = await startRelay({ ...engine(), ackWindow: 5 });
    });
    afterAll(() => t.close());

    it('sends envelopes {id,t,data} and {…,binary:true} with base64url data', async () => {
      const keys = generateKeys();
      const text = await postText(t.url, keys.id, '{"hello":"wörld"}');
      await fetch(`${t.url}/${keys.id}`, {
        method: 'POST',
        body: Buffer.from([0, 1, 255]),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      const s = await ackSocket(t.wsUrl, keys);
      const first = (await s.nextJson()) as unknown as Envelope;
      expect(first).toEqual({ id: text.json.id, t: text.json.t, data: '{"hello":"wörld"}' });
      const second = (await s.nextJson()) as unknown as Envelope;
      expect(second).toMatchObject({ data: 'AAH_', binary: true });
      expect(Object.keys(second).sort()).toEqual(['binary', 'data', 'id', 't']);
      s.close();
    });

    it('stores live messages before delivering them: unacknowledged ones come again next session', async () => {
      const keys = generateKeys();
      const s = await ackSocket(t.wsUrl, keys);
      const { json } = await postText(t.url, keys.id, 'live but unacked');
      const env = (await s.nextJson()) as unknown as Envelope;
      expect(env).toMatchObject({ id: json.id, data: 'live but unacked' });
      s.ws.terminate();
      await s.closed;
      const again = await ackSocket(t.wsUrl, keys);
      expect(((await again.nextJson()) as unknown as Envelope).id).toBe(json.id);
      again.close();
    });

    it('deletes acknowledged messages (batched acks); the rest come again', async () => {
      const keys = generateKeys();
      for (let i = 0; i < 4; i++) await postText(t.url, keys.id, `m${i}`);
      const s = await ackSocket(t.wsUrl, keys);
      const envs: Envelope[] = [];
      for (let i = 0; i < 4; i++) envs.push((await s.nextJson()) as unknown as Envelope);
      expect(envs.map((e) => e.data)).toEqual(['m0', 'm1', 'm2', 'm3']);
      s.send({ ack: [envs[0]!.id, envs[2]!.id] });
      // Garbage after the handshake is ignored, not fatal.
      s.send('not json');
      s.send({ subscription: { endpoint: 'x' } });
      s.send({ ack: [envs[3]!.id] });
      await postText(t.url, keys.id, 'probe');
      expect(((await s.nextJson()) as unknown as Envelope).data).toBe('probe');
      s.close();
      await s.closed;
      const next = await ackSocket(t.wsUrl, keys);
      const redelivered = [
        (await next.nextJson()) as unknown as Envelope,
        (await next.nextJson()) as unknown as Envelope,
      ];
      expect(redelivered.map((e) => e.data)).toEqual(['m1', 'probe']);
      next.close();
    });

    it('keeps at most ackWindow messages in flight; acks let the rest follow', async () => {
      const keys = generateKeys();
      for (let i = 0; i < 12; i++) await postText(t.url, keys.id, `w${i}`);
      const s = await ackSocket(t.wsUrl, keys);
      const got: Envelope[] = [];
      for (let i = 0; i < 5; i++) got.push((await s.nextJson()) as unknown as Envelope);
      await expect(s.next(300)).rejects.toThrow('no frame in time');
      s.send({ ack: got.slice(0, 2).map((e) => e.id) });
      for (let i = 0; i < 2; i++) got.push((await s.nextJson()) as unknown as Envelope);
      await expect(s.next(300)).rejects.toThrow('no frame in time');
      expect(got.map((e) => e.data)).toEqual(['w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6']);
      s.close();
    });

    it('with an ack-mode socket connected, a legacy socket of the same inbox does not take messages live', async () => {
      // Count appends: a message taken live by the legacy socket is never appended.
      let appended = 0;
      const counted = await startRelay({ ...engine(), ackWindow: 5 }, 'silent', {
        engine: (e) => {
          const append = e.store.append.bind(e.store);
          e.store.append = (...args) => {
            appended++;
            return append(...args);
          };
          return e;
        },
      });
      try {
        const keys = generateKeys();
        const ackS = await ackSocket(counted.wsUrl, keys);
        const legacy = new TestSocket(`${counted.wsUrl}/${keys.id}`);
        await legacy.opened;
        legacy.send(solutionFor(keys, await legacy.challenge()));
        expect(await legacy.nextJson()).toEqual({ message: 'handshake done' });
        const received = new Set<string>();
        ackS.listen((f) => {
          const env = JSON.parse(f.text) as Envelope;
          received.add(env.data);
          ackS.send({ ack: [env.id] });
        });
        legacy.listen((f) => received.add(f.text));
        for (let i = 0; i < 5; i++) await postText(counted.url, keys.id, `x${i}`);
        expect(appended).toBe(5);
        await waitFor(() => received.size === 5);
        ackS.close();
        legacy.close();
      } finally {
        await counted.close();
      }
    });
  });
}

describe('client SDK in ack mode', () => {
  const prefix = uniquePrefix();
  let t: TestRelay;
  beforeAll(async () => {
    t = await startRelay({ redisUrl: server.url, redisPrefix: prefix });
  });
  afterAll(() => t.close());

  /** The data of the first envelope a fresh ack session gets (the session then ends, releasing it). */
  async function firstStored(keys: OwnerKeys): Promise<string> {
    const s = await ackSocket(t.wsUrl, keys);
    const first = ((await s.nextJson()) as unknown as Envelope).data;
    s.ws.terminate();
    await s.closed;
    return first;
  }

  it('acknowledges after the loop body ran and yields each message once across a reconnect', async () => {
    const keys = generateKeys();
    for (let i = 0; i < 3; i++) await post(`${t.url}/${keys.id}`, `a${i}`);
    const conn = connect({
      url: t.url,
      keys,
      WebSocket: WS,
      ack: true,
      minDelayMs: 10,
      maxDelayMs: 50,
    });
    const it = conn[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ data: 'a0', binary: false });
    // The relay restarts while a0 is being handled: everything unacknowledged comes again.
    const port = Number(new URL(t.url).port);
    await t.relay.close();
    t = await startRelay({ port, redisUrl: server.url, redisPrefix: prefix });
    await post(`${t.url}/${keys.id}`, 'a3');
    const rest = [];
    for (let i = 0; i < 3; i++) rest.push((await it.next()).value!.data);
    expect(rest).toEqual(['a1', 'a2', 'a3']);
    // Asking for the next message acknowledges a3; a4 stays unacknowledged.
    const pending = it.next();
    await post(`${t.url}/${keys.id}`, 'a4');
    expect((await pending).value!.data).toBe('a4');
    conn.close();
    // a0..a3 were acknowledged and deleted: only a4 is left.
    await waitFor(async () => (await firstStored(keys)) === 'a4');
  });

  it('onMessage: acknowledged when the handler resolves, sent again when it rejects', async () => {
    const keys = generateKeys();
    await post(`${t.url}/${keys.id}`, 'fails');
    await post(`${t.url}/${keys.id}`, 'fine');
    const seen: string[] = [];
    const conn = connect({
      url: t.url,
      keys,
      WebSocket: WS,
      ack: true,
      onMessage: async (m) => {
        seen.push(String(m.data));
        if (m.data === 'fails') throw new Error('handler failed');
      },
    });
    await waitFor(() => seen.length === 2);
    conn.close();
    expect(seen).toEqual(['fails', 'fine']);
    // 'fine' was acknowledged and is gone; 'fails' was not, so it is still stored.
    const s = await ackSocket(t.wsUrl, keys);
    expect(((await s.nextJson()) as unknown as Envelope).data).toBe('fails');
    await postText(t.url, keys.id, 'probe');
    expect(((await s.nextJson()) as unknown as Envelope).data).toBe('probe');
    s.close();
  });
});
