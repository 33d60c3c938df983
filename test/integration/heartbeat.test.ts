/** Keep-alive (PROTOCOL.md §3.4): pings every heartbeat; a socket that misses a pong is dropped. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText, waitFor } from '../helpers/socket.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startRelay({ heartbeat: 1 });
});
afterAll(() => t.close());

describe('heartbeat', () => {
  it('pings, and a client that answers stays connected', async () => {
    const keys = generateKeys();
    const s = await authedSocket(t.wsUrl, keys);
    let pings = 0;
    s.ws.on('ping', () => pings++);
    await new Promise<void>((resolve) => s.ws.on('ping', () => pings >= 3 && resolve()));
    await postText(t.url, keys.id, 'still here');
    expect((await s.next()).text).toBe('still here');
    s.close();
  });

  it('terminates a socket that does not answer, and stores what comes after', async () => {
    const keys = generateKeys();
    const s = await authedSocket(t.wsUrl, keys);
    expect(t.relay.connections).toBe(1);
    // Stop reading: pings go unanswered.
    const raw = (s.ws as unknown as { _socket: { pause(): void; destroy(): void } })._socket;
    raw.pause();
    await waitFor(() => t.relay.connections === 0, 5000);
    raw.destroy();
    // The relay no longer counts the dead socket as live: a new post is stored for the next session.
    await postText(t.url, keys.id, 'for later');
    const next = await authedSocket(t.wsUrl, keys);
    expect((await next.next()).text).toBe('for later');
    next.close();
  });
});
