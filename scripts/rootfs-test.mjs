#!/usr/bin/env node
/**
 * make rootfs-test: starts the relay inside build/rootfs (the FROM scratch
 * image layout) with chroot, as the unprivileged user 10001, and checks it
 * from outside: /health, a POST, a full WebSocket handshake with stored and
 * live delivery, the Redis engine against a local redis-server, and SIGTERM
 * ending with exit status 0. Needs root (chroot) and redis-server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { freePort, sleep, startRedis, track } from './processes.mjs';
import { encodeB64url, generateKeys, solveChallenge } from '../dist/client/index.js';

const ROOTFS = new URL('../build/rootfs', import.meta.url).pathname;
function check(ok, what) {
  if (!ok) throw new Error(`rootfs-test: FAILED: ${what}`);
  console.log(`rootfs-test: ok: ${what}`);
}

async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`rootfs-test: FAILED: ${what} (timed out)`);
    await sleep(50);
  }
}

/** The relay inside the rootfs, as uid 10001; resolves once it listens. */
async function startRelay(port, env = {}) {
  const proc = spawn(
    'chroot',
    ['--userspec=10001:10001', ROOTFS, '/usr/local/bin/node', '/app/relay.mjs'],
    {
      env: { PATH: process.env.PATH, NPCHAT_PORT: String(port), NPCHAT_HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  track(proc);
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => (out += c));
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  await until(
    async () => out.includes('"msg":"listening"'),
    10_000,
    `relay listens (output: ${out})`,
  );
  return { proc, exited, output: () => out };
}

/** Full handshake; resolves with the socket and a queue of received frames. */
function ownerSocket(url, keys) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/${keys.id}`);
    const frames = [];
    let done = false;
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ get: 'challenge' })));
    ws.on('message', (data) => {
      const text = data.toString();
      if (done) return frames.push(text);
      const msg = JSON.parse(text);
      if (msg.challenge) {
        ws.send(
          JSON.stringify({
            publicKey: encodeB64url(keys.publicKey),
            challenge: msg.challenge,
            solution: solveChallenge(keys, msg.challenge.txt),
          }),
        );
      } else if (msg.message === 'handshake done') {
        done = true;
        resolve({ ws, frames });
      } else {
        reject(new Error(`handshake refused: ${text}`));
      }
    });
  });
}

async function exercise(name, env) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const relay = await startRelay(port, env);
  const status = readFileSync(`/proc/${relay.proc.pid}/status`, 'utf8');
  check(/^Uid:\s+10001\s/m.test(status), `${name}: runs as uid 10001`);
  const health = await fetch(`${url}/health`);
  check(health.status === 200 && (await health.json()).status === 'ok', `${name}: /health`);
  await until(async () => (await fetch(`${url}/ready`)).status === 200, 5000, `${name}: /ready`);
  for (const path of ['/openapi.json', '/docs', '/docs/swagger-ui-bundle.js']) {
    check((await fetch(`${url}${path}`)).status === 200, `${name}: ${path}`);
  }
  const info = await (await fetch(`${url}/info`)).json();
  check(info.store === name, `${name}: /info says store ${info.store}`);
  const keys = generateKeys();
  const posted = await fetch(`${url}/${keys.id}`, { method: 'POST', body: 'stored hello' });
  check(posted.status === 200 && (await posted.json()).message === 'sent', `${name}: POST`);
  const { ws, frames } = await ownerSocket(url, keys);
  check(true, `${name}: WebSocket handshake`);
  await until(async () => frames.includes('stored hello'), 5000, `${name}: stored delivery`);
  check(true, `${name}: stored message delivered`);
  await fetch(`${url}/${keys.id}`, { method: 'POST', body: 'live hello' });
  await until(async () => frames.includes('live hello'), 5000, `${name}: live delivery`);
  check(true, `${name}: live message delivered`);
  ws.close();
  relay.proc.kill('SIGTERM');
  const code = await Promise.race([relay.exited, sleep(15_000).then(() => 'timeout')]);
  check(code === 0, `${name}: SIGTERM, exit status ${code}`);
}

try {
  execFileSync('chroot', ['--version'], { stdio: 'ignore' });
  await exercise('memory', {});
  const redis = await startRedis();
  await exercise('redis', { NPCHAT_REDIS_URL: redis.url });
  redis.proc.kill('SIGTERM');
  console.log('rootfs-test: all checks passed');
  process.exit(0);
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
