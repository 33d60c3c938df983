/**
 * Connection-level bounds: trickled headers and bodies are cut off, the
 * number of connections (total and per address) and of sockets per inbox is
 * capped, and an unauthenticated WebSocket that ignores our close frame is
 * cut off at the handshake timeout.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay } from '../helpers/relay.js';
import { authedSocket, postText, TestSocket, waitFor } from '../helpers/socket.js';

interface Conn {
  sock: Socket;
  /** When the server ended the connection (ms after connecting) and what it said. */
  ended: Promise<{ ms: number; said: string }>;
}

/** Connects; listens for the end from the start (a refused connection closes at once). */
function open(port: number): Promise<Conn> {
  return new Promise((resolve) => {
    let said = '';
    let started = Date.now();
    const sock = connect(port, '127.0.0.1', () => {
      started = Date.now();
      resolve({ sock, ended });
    });
    sock.on('data', (c: Buffer) => (said += c.toString()));
    sock.on('error', () => {});
    const ended = new Promise<{ ms: number; said: string }>((done) =>
      sock.on('close', () => done({ ms: Date.now() - started, said })),
    );
  });
}

const portOf = (url: string) => Number(new URL(url).port);

describe('slow clients', () => {
  it('headers trickled byte by byte are cut off after headersTimeout (408)', async () => {
    const t = await startRelay({ headersTimeout: 2 });
    const { sock, ended } = await open(portOf(t.url));
    const request = `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(100)}`;
    let i = 0;
    const trickle = setInterval(() => {
      if (!sock.destroyed) sock.write(request[i++ % request.length]!);
    }, 200);
    try {
      const { ms, said } = await ended;
      expect(ms).toBeGreaterThanOrEqual(1900);
      expect(ms).toBeLessThan(4500);
      expect(said).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      sock.destroy();
      await t.close();
    }
  }, 15_000);

  it('a body slower than bodyMinRate is cut off with 408 request_timeout', async () => {
    const t = await startRelay({ bodyMinRate: 100 });
    const { sock, ended } = await open(portOf(t.url));
    sock.write(`POST /${generateKeys().id} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`);
    const trickle = setInterval(() => !sock.destroyed && sock.write('x'), 500);
    try {
      const { ms, said } = await ended;
      // 5 s grace, then checked every second.
      expect(ms).toBeGreaterThanOrEqual(5000);
      expect(ms).toBeLessThan(8000);
      expect(said).toMatch(/^HTTP\/1\.1 408/);
      expect(said).toContain('"error":"request_timeout"');
    } finally {
      clearInterval(trickle);
      sock.destroy();
      await t.close();
    }
  }, 15_000);
});

describe('connection caps', () => {
  it('per address: connections past the cap are closed at once, others are served', async () => {
    const t = await startRelay({ maxConnectionsPerAddress: 5 });
    const socks: Socket[] = [];
    try {
      for (let i = 0; i < 5; i++) socks.push((await open(portOf(t.url))).sock);
      const extra = await open(portOf(t.url));
      const { ms, said } = await extra.ended;
      expect(said).toBe('');
      expect(ms).toBeLessThan(1000);
      for (const s of socks.splice(0, 2)) s.destroy();
      await waitFor(async () => {
        const res = await fetch(`${t.url}/health`, { signal: AbortSignal.timeout(1000) }).catch(
          () => null,
        );
        return res?.status === 200;
      });
    } finally {
      for (const s of socks) s.destroy();
      await t.close();
    }
  });

  it('in total: connections past maxConnections are closed', async () => {
    const t = await startRelay({ maxConnections: 3 });
    const socks: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) socks.push((await open(portOf(t.url))).sock);
      const extra = await open(portOf(t.url));
      expect((await extra.ended).ms).toBeLessThan(1000);
    } finally {
      for (const s of socks) s.destroy();
      await t.close();
    }
  });
});

describe('WebSocket bounds', () => {
  it('an unauthenticated socket that ignores the close frame is cut off at the handshake timeout', async () => {
    const t = await startRelay({ handshakeTimeout: 1 });
    try {
      const s = new TestSocket(`${t.wsUrl}/${generateKeys().id}`);
      await s.opened;
      const started = Date.now();
      // Ignore the close frame: never read anything again.
      (s.ws as unknown as { _socket: Socket })._socket.pause();
      expect(t.relay.connections).toBe(1);
      // ws alone would wait 30 s for the client's close frame.
      await waitFor(() => t.relay.connections === 0, 5000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(Date.now() - started).toBeLessThan(3500);
      s.ws.terminate();
    } finally {
      await t.close();
    }
  });

  it('sockets per inbox past the cap are closed with 4029 too_many_sockets', async () => {
    const t = await startRelay({ maxSocketsPerInbox: 2 });
    try {
      const keys = generateKeys();
      const a = await authedSocket(t.wsUrl, keys);
      const b = await authedSocket(t.wsUrl, keys);
      await expect(authedSocket(t.wsUrl, keys)).rejects.toThrow(/too_many_sockets/);
      // Another inbox is not affected, and a closed socket frees its place.
      (await authedSocket(t.wsUrl, generateKeys())).close();
      a.close();
      await a.closed;
      const c = await authedSocket(t.wsUrl, keys);
      await postText(t.url, keys.id, 'to both');
      expect((await b.next()).text).toBe('to both');
      expect((await c.next()).text).toBe('to both');
      b.close();
      c.close();
    } finally {
      await t.close();
    }
  });
});
