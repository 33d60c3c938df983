/** Graceful shutdown on SIGTERM/SIGINT: stop accepting, /ready 503, close sockets with 1001, exit 0. */
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

  it('/ready answers 503 and new sockets are refused while an in-flight request finishes', async () => {
    const t = await startRelay({ shutdownTimeout: 5 });
    const keys = generateKeys();
    // A POST whose body is still arriving keeps the shutdown waiting.
    const controller = new AbortController();
    let push!: (chunk: Uint8Array | null) => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (chunk) => (chunk ? c.enqueue(chunk) : c.close());
      },
    });
    const inFlight = fetch(`${t.url}/${keys.id}`, {
      method: 'POST',
      body,
      duplex: 'half',
      signal: controller.signal,
    } as RequestInit);
    push(new TextEncoder().encode('half '));
    await new Promise((r) => setTimeout(r, 50));
    const closing = t.close();
    expect(t.relay.closing).toBe(true);
    push(new TextEncoder().encode('done'));
    push(null);
    const res = await inFlight;
    expect(res.status).toBe(200);
    await closing;
  });
});
