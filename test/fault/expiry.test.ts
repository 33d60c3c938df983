/** Fault (e): an expired message is never delivered, in either mode, on either engine. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, waitFor } from '../helpers/socket.js';

const engines = bothEngines();

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
      const first = await authedSocket(r.wsUrl, keys, { ack: true });
      expect(JSON.parse((await first.next()).text)).toMatchObject({
        data: 'sent, unacked, then expired',
      });
      first.close();
      await first.closed;
      await expired(Number(json.t));
      const s = await authedSocket(r.wsUrl, keys, { ack: true });
      await postText(r.url, keys.id, 'marker');
      expect(JSON.parse((await s.next()).text)).toMatchObject({ data: 'marker' });
      s.close();
    });
  });
}
