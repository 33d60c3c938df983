/** Graceful shutdown on SIGTERM/SIGINT: stop accepting, /ready 503, close sockets with 1001, exit 0. */
import { connect as tcpConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay } from '../helpers/relay.js';
import { authedSocket } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: sockets get 1001 going_away, the process exits 0 in bounded time`, async () => {
      const { child, url } = await spawnRelay(['--shutdowntimeout', '5']);
      const s = await authedSocket(url.replace('http', 'ws'), generateKeys());
      const started = Date.now();
      child.proc.kill(signal);
      expect(await s.closed).toEqual({ code: 1001, reason: 'going_away' });
      // No error frame after the handshake: a legacy client would take it for a message.
      expect(s.buffered).toBe(0);
      expect(await child.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(fetch(`${url}/health`)).rejects.toThrow();
    });
  }

  it('finishes an in-flight POST while refusing new connections', async () => {
    const t = await startRelay({ shutdownTimeout: 5 });
    const keys = generateKeys();
    const { port } = new URL(t.url);
    const sock = tcpConnect(Number(port), '127.0.0.1');
    let received = '';
    sock.on('data', (c: Buffer) => (received += c.toString()));
    await new Promise((r) => sock.once('connect', r));
    // A POST whose body is still arriving when the shutdown starts.
    sock.write(`POST /${keys.id} HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nhalf `);
    await new Promise((r) => setTimeout(r, 50));
    const closing = t.close();
    expect(t.relay.closing).toBe(true);
    // New connections are no longer accepted.
    await expect(fetch(`${t.url}/health`)).rejects.toThrow();
    sock.write('done\r\n');
    await new Promise((r) => sock.once('close', r));
    await closing;
    const statuses = [...received.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1]);
    expect(statuses).toEqual(['200']);
    expect(received).toContain('"message":"sent"');
    expect(t.relay.connections).toBe(0);
  });

  it('exits 0 within shutdownTimeout even when a request never finishes', async () => {
    const { child, url } = await spawnRelay(['--shutdowntimeout', '1']);
    const keys = generateKeys();
    const { port } = new URL(url);
    const sock = tcpConnect(Number(port), '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    // A body that is announced but never sent.
    sock.write(`POST /${keys.id} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nstuck`);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
    sock.destroy();
  });
});
