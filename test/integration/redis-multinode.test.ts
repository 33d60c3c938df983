/** Several relays on one Redis (and on a Redis Cluster) act as one relay. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChallengeKeyring } from '../../src/auth/keyring.js';
import { generateKeys } from '../../src/client/keys.js';
import type { Config } from '../../src/config.js';
import { FORWARD_TIMEOUT_MS } from '../../src/hub/redis-hub.js';
import { connectRedis, whenReady } from '../../src/redis/connect.js';
import { RedisKeyDirectory } from '../../src/redis/key-directory.js';
import { createLogger } from '../../src/logger.js';
import {
  startCluster,
  startRedis,
  uniquePrefix,
  type RedisCluster,
  type RedisServer,
} from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, expectNothingBefore, postText, waitFor } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startCluster()]);
}, 60_000);
afterAll(async () => {
  await server.stop();
  await cluster.stop();
});

const engines: [string, () => Partial<Config>][] = [
  ['one Redis', () => ({ redisUrl: server.url })],
  ['Redis Cluster', () => ({ redisCluster: cluster.seeds })],
];

for (const [name, engine] of engines) {
  describe(`two relays on ${name}`, () => {
    let a: TestRelay;
    let b: TestRelay;
    beforeAll(async () => {
      const shared = { ...engine(), redisPrefix: uniquePrefix() };
      [a, b] = await Promise.all([startRelay(shared), startRelay(shared)]);
    });
    afterAll(async () => {
      await Promise.all([a.close(), b.close()]);
    });

    it('/info reports the redis store', async () => {
      const info = (await (await fetch(`${a.url}/info`)).json()) as { store: string };
      expect(info.store).toBe('redis');
      expect((await fetch(`${b.url}/ready`)).status).toBe(200);
    });

    it('post on A reaches a live socket on B, and is not stored', async () => {
      const keys = generateKeys();
      const s = await authedSocket(b.wsUrl, keys);
      expect((await postText(a.url, keys.id, 'across nodes')).status).toBe(200);
      expect((await s.next()).text).toBe('across nodes');
      s.close();
      await s.closed;
      const again = await authedSocket(a.wsUrl, keys);
      await expectNothingBefore(b.url, again, keys);
      again.close();
    });

    it('offline on A, flushed on B, oldest first, binary intact', async () => {
      const keys = generateKeys();
      for (let i = 0; i < 20; i++) await postText(a.url, keys.id, `m${i}`);
      const bin = Buffer.from([0, 255, 7]);
      await fetch(`${a.url}/${keys.id}`, {
        method: 'POST',
        body: bin,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      const s = await authedSocket(b.wsUrl, keys);
      for (let i = 0; i < 20; i++) expect((await s.next()).text).toBe(`m${i}`);
      const f = await s.next();
      expect(f.binary).toBe(true);
      expect(f.data).toEqual(bin);
      s.close();
    });

    it('sockets on A and B for one id both get every live message', async () => {
      const keys = generateKeys();
      const [sa, sb] = await Promise.all([
        authedSocket(a.wsUrl, keys),
        authedSocket(b.wsUrl, keys),
      ]);
      await postText(a.url, keys.id, 'one');
      await postText(b.url, keys.id, 'two');
      for (const s of [sa, sb]) {
        expect((await s.next()).text).toBe('one');
        expect((await s.next()).text).toBe('two');
      }
      sa.close();
      sb.close();
    });

    it('a message posted right after the owner left B is stored, not lost', async () => {
      const keys = generateKeys();
      const s = await authedSocket(b.wsUrl, keys);
      s.close();
      await s.closed;
      await waitFor(() => b.relay.connections === 0);
      await postText(a.url, keys.id, 'after leaving');
      const back = await authedSocket(a.wsUrl, keys);
      expect((await back.next()).text).toBe('after leaving');
      back.close();
    });

    it('a challenge issued by one relay verifies on another (shared challenge keys)', async () => {
      const cfg = engine();
      const log = createLogger('silent');
      const target = cfg.redisCluster ? { cluster: cfg.redisCluster } : { url: cfg.redisUrl! };
      const [c1, c2] = [connectRedis(target, log), connectRedis(target, log)];
      const prefix = uniquePrefix();
      const opts = { freshKey: 5, challengeTtlMs: 30_000 };
      const r1 = new ChallengeKeyring({
        ...opts,
        directory: new RedisKeyDirectory(c1.client, prefix),
      });
      const r2 = new ChallengeKeyring({
        ...opts,
        directory: new RedisKeyDirectory(c2.client, prefix),
      });
      const alone = new ChallengeKeyring(opts);
      try {
        // Ready as the relay means it (a Cluster's masters open too), not only by status.
        const ready = await Promise.all([
          whenReady(c1.client, 15_000),
          whenReady(c2.client, 15_000),
        ]);
        expect(ready).toEqual([true, true]);
        const keys = generateKeys();
        const ch = await r1.issue(keys.id);
        expect(await r2.check(keys.id, ch)).toMatchObject({ ok: true });
        expect(await r2.check(generateKeys().id, ch)).toEqual({ ok: false, reason: 'forged' });
        expect(await alone.check(keys.id, ch)).toEqual({ ok: false, reason: 'forged' });
      } finally {
        await c1.close();
        await c2.close();
      }
    });
  });
}

describe('a relay killed without cleanup', () => {
  it('loses nothing stored, and its stale presence does not swallow messages', async () => {
    const prefix = uniquePrefix();
    const env = { NPCHAT_REDIS_URL: server.url, NPCHAT_REDIS_PREFIX: prefix };
    const doomed = await spawnRelay([], env);
    const survivor = await startRelay({ redisUrl: server.url, redisPrefix: prefix });
    try {
      const stored = generateKeys();
      for (let i = 0; i < 10; i++)
        expect((await postText(doomed.url, stored.id, `s${i}`)).status).toBe(200);
      // An owner online on the doomed relay: it will leave a stale presence behind.
      const online = generateKeys();
      const s = await authedSocket(doomed.url.replace('http', 'ws'), online);
      doomed.child.proc.kill('SIGKILL');
      await doomed.child.exited;
      await s.closed;
      const res = await postText(survivor.url, online.id, 'to a dead node');
      expect(res.status).toBe(200);
      const back = await authedSocket(survivor.wsUrl, online);
      expect((await back.next()).text).toBe('to a dead node');
      back.close();
      const owner = await authedSocket(survivor.wsUrl, stored);
      for (let i = 0; i < 10; i++) expect((await owner.next()).text).toBe(`s${i}`);
      owner.close();
    } finally {
      await survivor.close();
    }
  });
});

describe('a frozen relay (alive on TCP, never answering)', () => {
  it('costs the sender the forward timeout, then the message is stored', async () => {
    const prefix = uniquePrefix();
    const frozen = await spawnRelay([], {
      NPCHAT_REDIS_URL: server.url,
      NPCHAT_REDIS_PREFIX: prefix,
    });
    const survivor = await startRelay({ redisUrl: server.url, redisPrefix: prefix });
    const keys = generateKeys();
    try {
      const s = await authedSocket(frozen.url.replace('http', 'ws'), keys);
      // A first message forwarded live proves the frozen relay's presence is in Redis.
      await postText(survivor.url, keys.id, 'before');
      expect((await s.next()).text).toBe('before');
      frozen.child.proc.kill('SIGSTOP');
      const started = Date.now();
      const res = await postText(survivor.url, keys.id, 'while frozen');
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(FORWARD_TIMEOUT_MS - 50);
      frozen.child.proc.kill('SIGKILL');
      await frozen.child.exited;
      await s.closed;
      const back = await authedSocket(survivor.wsUrl, keys);
      expect((await back.next()).text).toBe('while frozen');
      back.close();
    } finally {
      frozen.child.proc.kill('SIGKILL');
      await survivor.close();
    }
  });
});
