/**
 * Fault (a): `kill -9` of a relay during a POST storm in Redis mode. Every
 * message answered 200 is delivered: to an ack-mode client (exactly once
 * after it deduplicates by id; nothing it acknowledged comes back), and to a
 * legacy client whose socket is on the relay that dies, so that most
 * messages reach it live, forwarded from the other relay: a 200 for a live
 * message means its frame was written before the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { AckCollector } from '../helpers/collector.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';
import { postText, waitFor } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

describe.each(['ack', 'legacy'] as const)('kill -9 during a POST storm, %s owner', (mode) => {
  it('loses no message answered 200', async () => {
    const prefix = uniquePrefix();
    const doomed = await spawnRelay(['--heartbeat', '1'], {
      NPCHAT_REDIS_URL: server.url,
      NPCHAT_REDIS_PREFIX: prefix,
    });
    const survivor = await startRelay({ redisUrl: server.url, redisPrefix: prefix, heartbeat: 1 });
    const keys = generateKeys();
    const doomedWs = doomed.url.replace('http', 'ws');
    // The owner starts on the doomed relay (so it holds leases when it dies), then moves on.
    // Legacy: the owner does not read while the storm lasts, so frames pile up
    // in the dying relay's buffers; those answered 200 must have been written
    // to the kernel (which still sends them after the kill) or stored.
    const collector = new AckCollector(() => [doomedWs, survivor.wsUrl], keys, mode, {
      holdFirstSession: mode === 'legacy',
    });
    const pad = mode === 'legacy' ? ':'.padEnd(64 * 1024, 'p') : '';
    const accepted = new Map<string, string>(); // id -> body
    let refused = 0;
    let seq = 0;
    const until = Date.now() + 1500;
    const killAt = Date.now() + 600;
    const killer = (async () => {
      await new Promise((r) => setTimeout(r, killAt - Date.now()));
      doomed.child.proc.kill('SIGKILL');
    })();
    try {
      await Promise.all(
        Array.from({ length: 6 }, async (_, w) => {
          while (Date.now() < until) {
            const body = `w${w}-${seq++}${pad}`;
            const target = seq % 2 ? doomed.url : survivor.url;
            try {
              const res = await postText(target, keys.id, body);
              if (res.status === 200) accepted.set(res.json.id as string, body);
              else refused++;
            } catch {
              refused++; // connection refused or reset: not accepted
            }
          }
        }),
      );
      await killer;
      expect(await doomed.child.exited).toBe(null);
      collector.release();
      expect(accepted.size).toBeGreaterThan(50);
      await waitFor(
        () => [...accepted].every(([id, body]) => collector.received(id, body)),
        20_000,
      );
      console.log(
        `kill -9 storm (${mode}): ${accepted.size} accepted, ${refused} refused, ${collector.duplicates} redelivered (deduplicated)`,
      );
    } finally {
      await collector.stop();
    }
    // Everything was acknowledged (or, legacy, deleted once written): a new
    // session finds nothing but a fresh probe.
    const after = new AckCollector(() => [survivor.wsUrl], keys, mode);
    await postText(survivor.url, keys.id, 'probe');
    // Stored messages come oldest first, so anything left over would precede the probe.
    await waitFor(() => [...after.bodies.values()].includes('probe'));
    expect([...after.bodies.values()]).toEqual(['probe']);
    await after.stop();
    await survivor.close();
  }, 60_000);
});
