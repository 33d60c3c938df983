/**
 * Fault (b): Redis killed and restarted in the middle of a POST storm, with
 * AOF `appendfsync always`. POSTs get 503 during the outage, 200 again after
 * it without restarting any relay, and no message answered 200 is missing,
 * for an ack-mode owner and for a legacy one (live forwarding across relays).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { AckCollector } from '../helpers/collector.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { postText, waitFor } from '../helpers/socket.js';

let server: RedisServer;
let relays: TestRelay[];
beforeAll(async () => {
  server = await startRedis({ appendfsync: 'always' });
  const shared = { redisUrl: server.url, redisPrefix: uniquePrefix(), heartbeat: 1 };
  relays = await Promise.all([startRelay(shared), startRelay(shared)]);
});
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
  await server.stop();
});

describe.each(['ack', 'legacy'] as const)('Redis restarted mid-storm, %s owner', (mode) => {
  it('answers 503 while it is down and loses no message answered 200', async () => {
    const keys = generateKeys();
    const collector = new AckCollector(() => relays.map((r) => r.wsUrl), keys, mode);
    const accepted = new Map<string, string>();
    const statuses = { before: 0, during503: 0, after: 0 };
    let phase: 'before' | 'down' | 'after' = 'before';
    let seq = 0;
    const storm = Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        while (phase !== 'after' || statuses.after < 100) {
          const body = `w${w}-${seq++}`;
          const res = await postText(relays[seq % 2]!.url, keys.id, body);
          if (res.status === 200) {
            accepted.set(res.json.id as string, body);
            if (phase === 'before') statuses.before++;
            if (phase === 'after') statuses.after++;
          } else {
            expect(res.status).toBe(503);
            expect(res.json.error).toBe('unavailable');
            if (phase === 'down') statuses.during503++;
          }
        }
      }),
    );
    try {
      await waitFor(() => statuses.before > 100, 10_000);
      await server.stop('SIGKILL');
      phase = 'down';
      await waitFor(() => statuses.during503 > 20, 10_000);
      await server.start();
      phase = 'after';
      await storm;
      await waitFor(
        () => [...accepted].every(([id, body]) => collector.received(id, body)),
        20_000,
      );
      console.log(
        `redis restart storm (${mode}): ${accepted.size} accepted, ${statuses.during503} answered 503 while down, ${collector.duplicates} redelivered`,
      );
    } finally {
      phase = 'after';
      await collector.stop();
    }
  }, 60_000);
});
