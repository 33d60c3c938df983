/** Fault (e): an expired message is never delivered, in either mode, on either engine. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys, type OwnerKeys } from '../../src/client/keys.js';
import type { Config } from '../../src/config.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, solutionFor, TestSocket, waitFor } from '../helpers/socket.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

const engines: [string, () => Partial<Config>][] = [
  ['memory', () => ({})],
  ['redis', () => ({ redisUrl: server.url, redisPrefix: uniquePrefix() })],
];

async function ackSocket(wsUrl: string, keys: OwnerKeys): Promise<TestSocket> {
  const s = new TestSocket(`${wsUrl}/${keys.id}`);
  await s.opened;
  s.send({ ...solutionFor(keys, await s.challenge()), ack: true });
  await s.nextJson();
  return s;
}

/** Waits until a message posted at `t` with TTL 1 s has expired. */
const expired = (t: number) => waitFor(() => Date.now() > t + 1050, 3000);

for (const [name, engine] of engines) {
  describe(`expiry on ${name}`, () => {
    let r: TestRelay;
    beforeAll(async () => {
      r = await startRelay(engine());
    });
    afterAll(() => r.close());

    it('legacy: a stored message past its TTL is not delivered', async () => {
      const keys = generateKeys();
      const { json } = await postText(r.url, keys.id, 'stale', { TTL: '1' });
      await postText(r.url, keys.id, 'fresh');
      await expired(Number(json.t));
      const s = await authedSocket(r.wsUrl, keys);
      expect((await s.next()).text).toBe('fresh');
      await postText(r.url, keys.id, 'marker');
      expect((await s.next()).text).toBe('marker');
      s.close();
    });

    it('ack: a message past its TTL is not delivered, not even one sent before and never acknowledged', async () => {
      const keys = generateKeys();
      const { json } = await postText(r.url, keys.id, 'sent, unacked, then expired', { TTL: '1' });
      const first = await ackSocket(r.wsUrl, keys);
      expect(JSON.parse((await first.next()).text)).toMatchObject({
        data: 'sent, unacked, then expired',
      });
      first.close();
      await first.closed;
      await expired(Number(json.t));
      const s = await ackSocket(r.wsUrl, keys);
      await postText(r.url, keys.id, 'marker');
      expect(JSON.parse((await s.next()).text)).toMatchObject({ data: 'marker' });
      s.close();
    });
  });
}
