/**
 * deploy/nginx/npchat-relay.conf, as shipped, in front of two relays on one
 * Redis: POSTs and owners' WebSockets pass through nginx to either relay,
 * and with NPCHAT_TRUST_PROXY the relays' limits see each client's own
 * address from X-Forwarded-For, which a client cannot spoof. Needs nginx
 * (`apt-get install -y nginx-light`; .ci/run installs it).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { tempDir, track } from '../helpers/cleanup.js';
import { freePort, startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, waitFor } from '../helpers/socket.js';

function nginxBinary(): string {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error('nginx is not installed: apt-get install -y nginx-light (.ci/run does this).');
}

/** A POST sent from a given loopback address (so nginx sees distinct clients). */
function postFrom(
  localAddress: string,
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', localAddress, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let redis: RedisServer;
let relays: TestRelay[];
let nginxUrl: string;
let stopNginx: () => Promise<void>;

beforeAll(async () => {
  const nginx = nginxBinary();
  redis = await startRedis();
  const shared = {
    redisUrl: redis.url,
    redisPrefix: uniquePrefix(),
    trustProxy: '127.0.0.1',
    postRate: 1,
    postBurst: 0,
  };
  relays = await Promise.all([startRelay(shared), startRelay(shared)]);
  const port = await freePort();
  // The shipped file, with this test's ports in place of 8001/8002/80.
  const site = readFileSync(
    new URL('../../deploy/nginx/npchat-relay.conf', import.meta.url),
    'utf8',
  )
    .replace('server 127.0.0.1:8001;', `server ${new URL(relays[0]!.url).host};`)
    .replace('server 127.0.0.1:8002;', `server ${new URL(relays[1]!.url).host};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`);
  expect(site).toContain(new URL(relays[1]!.url).host);
  const dir = tempDir('npchat-nginx-');
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`,
  );
  const proc = track(
    spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: 'ignore',
    }),
  );
  const exited = new Promise((r) => proc.once('exit', r));
  stopNginx = async () => {
    proc.kill('SIGTERM');
    await exited;
  };
  nginxUrl = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${nginxUrl}/health`).catch(() => null))?.status === 200);
}, 30_000);

afterAll(async () => {
  await stopNginx?.();
  await Promise.all((relays ?? []).map((r) => r.close()));
  await redis?.stop();
});

describe('nginx in front of two relays (deploy/nginx/npchat-relay.conf)', () => {
  it('carries POSTs and owners’ WebSockets to either relay', async () => {
    const keys = generateKeys();
    expect((await postFrom('127.0.0.10', `${nginxUrl}/${keys.id}`, 'stored')).status).toBe(200);
    const s = await authedSocket(nginxUrl.replace('http', 'ws'), keys);
    expect((await s.next()).text).toBe('stored');
    // Live, through nginx, to whichever relay holds the socket.
    for (let i = 0; i < 4; i++) {
      const r = await postFrom(`127.0.0.${20 + i}`, `${nginxUrl}/${keys.id}`, `live ${i}`);
      expect(r.status).toBe(200);
      expect((await s.next()).text).toBe(`live ${i}`);
    }
    s.close();
  });

  it('passes X-Forwarded-For, so limits count each client, and a spoofed one changes nothing', async () => {
    const id = generateKeys().id;
    // One POST a second per client: a second from the same client is refused...
    expect((await postFrom('127.0.0.30', `${nginxUrl}/${id}`, 'a')).status).toBe(200);
    expect((await postFrom('127.0.0.30', `${nginxUrl}/${id}`, 'b')).status).toBe(429);
    // ...however it dresses up its header (nginx appends the real address)...
    const spoofed = await postFrom('127.0.0.30', `${nginxUrl}/${id}`, 'c', {
      'X-Forwarded-For': '198.51.100.7',
    });
    expect(spoofed.status).toBe(429);
    // ...while another client, through the same nginx, has its own budget.
    expect((await postFrom('127.0.0.31', `${nginxUrl}/${id}`, 'd')).status).toBe(200);
  });
});
