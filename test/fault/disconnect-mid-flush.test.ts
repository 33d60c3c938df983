/**
 * Fault (c): the owner disconnects in the middle of a flush, in both modes,
 * on both engines. Legacy: a message is removed only after its frame was
 * written, so what the client did not get is still stored, once. Ack: even an
 * abrupt disconnect loses nothing (unacknowledged messages come again).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, waitFor } from '../helpers/socket.js';

const N = 400;
const engines = bothEngines();

for (const [name, engine] of engines) {
  describe(`disconnect mid-flush on ${name}`, () => {
    let t: TestRelay;
    beforeAll(async () => {
      // Messages larger than the socket and relay buffers can absorb, so the
      // flush is really in the middle when the client leaves.
      t = await startRelay({ ...engine(), maxBufferedBytes: 256 * 1024 });
    });
    afterAll(() => t.close());

    async function fill(id: string): Promise<string[]> {
      const bodies = Array.from({ length: N }, (_, i) =>
        `m${String(i).padStart(3, '0')}:`.padEnd(16_000, '.'),
      );
      for (const b of bodies) expect((await postText(t.url, id, b)).status).toBe(200);
      return bodies;
    }

    it('legacy: the client closes after 50 frames; the rest is still stored, nothing twice', async () => {
      const keys = generateKeys();
      const bodies = await fill(keys.id);
      const got: string[] = [];
      const s = await authedSocket(t.wsUrl, keys);
      s.listen((f) => {
        got.push(f.text);
        if (got.length === 50) s.ws.close();
      });
      await s.closed;
      expect(got.length).toBeGreaterThanOrEqual(50);
      expect(got.length).toBeLessThan(N);
      const again = await authedSocket(t.wsUrl, keys);
      again.listen((f) => got.push(f.text));
      await waitFor(() => got.length >= N);
      await postText(t.url, keys.id, 'marker');
      await waitFor(() => got.includes('marker'));
      again.close();
      // Every message exactly once across the two sessions.
      expect(got.slice(0, -1).sort()).toEqual(bodies);
    });

    it('ack: an abrupt disconnect mid-flush loses nothing', async () => {
      const keys = generateKeys();
      const bodies = await fill(keys.id);
      const got = new Set<string>();
      const s = await authedSocket(t.wsUrl, keys, { ack: true });
      let n = 0;
      s.listen((f) => {
        const env = JSON.parse(f.text) as { id: string; data: string };
        got.add(env.data);
        if (++n % 10 === 0) s.send({ ack: [env.id] }); // acks only some of them
        if (n === 60) s.ws.terminate();
      });
      await s.closed;
      const again = await authedSocket(t.wsUrl, keys, { ack: true });
      again.listen((f) => {
        const env = JSON.parse(f.text) as { id: string; data: string };
        got.add(env.data);
        again.send({ ack: [env.id] });
      });
      await waitFor(() => got.size === N, 10_000);
      again.close();
      expect([...got].sort()).toEqual(bodies);
    });
  });
}
