/**
 * Redis unreachable: POST answers 503 within 1 s, /ready 503, open sockets
 * stay up, and everything recovers by itself when Redis returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { freePort, rawCommand, RedisServer, startRedis, uniquePrefix } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, waitFor } from '../helpers/socket.js';

let server: RedisServer;
let a: TestRelay;
let b: TestRelay;
const prefix = uniquePrefix();
beforeAll(async () => {
  server = await startRedis();
  const shared = { redisUrl: server.url, redisPrefix: prefix, heartbeat: 1 };
  [a, b] = await Promise.all([startRelay(shared), startRelay(shared)]);
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  await server.stop();
});

async function ready(url: string): Promise<number> {
  return (await fetch(`${url}/ready`)).status;
}

describe('Redis outage', () => {
  it('503 fast while down, sockets stay up, full recovery when Redis returns', async () => {
    const online = generateKeys();
    const offline = generateKeys();
    const s = await authedSocket(a.wsUrl, online);
    await postText(b.url, online.id, 'before');
    expect((await s.next()).text).toBe('before');

    await server.stop('SIGKILL');

    // POST to an inbox nobody holds: cannot be stored -> 503 within 1 s, never 200.
    const started = Date.now();
    const res = await postText(a.url, offline.id, 'nowhere to go');
    expect(res.status).toBe(503);
    expect(res.json.error).toBe('unavailable');
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await postText(b.url, offline.id, 'nowhere either')).status).toBe(503);

    // /ready tells the load balancer; /health still says the process runs.
    await waitFor(async () => (await ready(a.url)) === 503, 3000);
    expect((await fetch(`${a.url}/health`)).status).toBe(200);

    // An online owner's inbox gets the same 503: ids come from Redis, and a 200
    // here would tell any sender that the owner is online.
    expect((await postText(a.url, online.id, 'local during outage')).status).toBe(503);

    // The socket survives heartbeats (each one retries the failed flush).
    let pings = 0;
    await new Promise<void>((resolve) => s.ws.on('ping', () => ++pings === 2 && resolve()));
    expect(s.ws.readyState).toBe(s.ws.OPEN);

    await server.start();
    await waitFor(async () => (await ready(a.url)) === 200 && (await ready(b.url)) === 200, 10_000);

    // Storing works again, and live routing across nodes too (presence rewritten).
    expect((await postText(b.url, offline.id, 'after recovery')).status).toBe(200);
    const late = await authedSocket(b.wsUrl, offline);
    expect((await late.next()).text).toBe('after recovery');
    // The restarted Redis is empty: relay A writes its presence again by itself.
    await waitFor(
      async () => (await rawCommand(server.port, `HLEN ${prefix}{${online.id}}:p`)) === ':1\r\n',
    );
    expect((await postText(b.url, online.id, 'across again')).status).toBe(200);
    expect((await s.next()).text).toBe('across again');
    s.close();
    late.close();
  });

  it('a relay started before Redis serves 503 and recovers when Redis appears', async () => {
    const port = await freePort();
    const late = new RedisServer(port, {});
    const r = await startRelay({ redisUrl: late.url, redisPrefix: uniquePrefix() });
    try {
      expect(await ready(r.url)).toBe(503);
      const keys = generateKeys();
      expect((await postText(r.url, keys.id, 'too early')).status).toBe(503);
      await late.start();
      await waitFor(async () => (await ready(r.url)) === 200, 10_000);
      expect((await postText(r.url, keys.id, 'in time')).status).toBe(200);
      const s = await authedSocket(r.wsUrl, keys);
      expect((await s.next()).text).toBe('in time');
      s.close();
    } finally {
      await r.close();
      await late.stop();
    }
  });
});
