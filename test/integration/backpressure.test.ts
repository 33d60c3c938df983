/**
 * Backpressure (PROTOCOL.md §3.4): a client that never reads while 50 MB of
 * messages are posted to it. The relay refuses live delivery once the
 * socket holds maxBufferedBytes (the messages are stored), closes it with
 * 4008 when it stays over the limit, and its memory stays bounded. Every
 * message is delivered (before the close, or from the store on the next
 * session).
 *
 * The memory bound, honestly: the relay keeps at most maxBufferedBytes (1 MiB
 * here) plus one message for the socket, and the bodies of the requests in
 * flight (8 x 64 KB). RSS also holds garbage that the collector has not taken
 * yet, which varies from run to run, so two checks: the relay runs with its
 * V8 old space capped at HEAP_CAP_MB (it would die if it kept the 51 MB
 * posted), and its RSS grows less than RSS_BOUND_MB, well under what passed.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { authedSocket, postText, waitFor } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

const MESSAGES = 800;
const BODY_BYTES = 64_000; // 800 x 64 KB = 51.2 MB
const RSS_BOUND_MB = 45;
const HEAP_CAP_MB = 64;

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

/** RSS of a process in MB (0 once it has exited). */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

describe('slow consumer', () => {
  it('50 MB to a client that never reads: bounded memory, 4008, nothing lost', async () => {
    const relay = await spawnRelay(
      [
        '--maxbufferedbytes',
        String(1024 * 1024),
        '--heartbeat',
        '2',
        '--inboxmaxbytes',
        String(64 << 20),
      ],
      {
        NPCHAT_REDIS_URL: server.url,
        NPCHAT_REDIS_PREFIX: uniquePrefix(),
        NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MB}`,
      },
    );
    const pid = relay.child.proc.pid!;
    let sampler: NodeJS.Timeout | undefined;
    try {
      const keys = generateKeys();
      // Warm up the relay's code paths before taking the baseline.
      const warm = generateKeys();
      for (let i = 0; i < 50; i++) await postText(relay.url, warm.id, 'w'.repeat(BODY_BYTES));
      const baseline = rssMb(pid);

      const s = await authedSocket(relay.url.replace('http', 'ws'), keys);
      const raw = (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      raw.pause();
      let peak = baseline;
      sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
      const bodies = Array.from({ length: MESSAGES }, (_, i) =>
        `${String(i).padStart(4, '0')}:`.padEnd(BODY_BYTES, 'x'),
      );
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < bodies.length) {
            const body = bodies[next++]!;
            expect((await postText(relay.url, keys.id, body)).status).toBe(200);
          }
        }),
      );
      clearInterval(sampler);
      peak = Math.max(peak, rssMb(pid));
      console.log(
        `relay RSS baseline ${baseline.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, growth ${(peak - baseline).toFixed(1)} MB`,
      );

      // The client keeps not reading for more than two heartbeats (the relay
      // checks the buffer once per heartbeat, so this wait is what is being
      // tested): it is over the limit at two checks in a row and gets closed
      // as slow. The buffer is over the limit well before the first check.
      await new Promise((r) => setTimeout(r, 5000));
      const got = new Set<string>();
      s.listen((f) => got.add(f.text.slice(0, 5)));
      raw.resume();
      expect((await s.closed).code).toBe(4008);
      const received = got.size;
      const next2 = await authedSocket(relay.url.replace('http', 'ws'), keys);
      next2.listen((f) => got.add(f.text.slice(0, 5)));
      await waitFor(() => got.size === MESSAGES, 15_000);
      next2.close();
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(MESSAGES);
      expect(peak - baseline).toBeLessThan(RSS_BOUND_MB);
      expect(relay.child.proc.exitCode).toBeNull(); // alive under the heap cap
    } finally {
      clearInterval(sampler);
      relay.child.proc.kill('SIGTERM');
      await relay.child.exited;
    }
  }, 60_000);
});
