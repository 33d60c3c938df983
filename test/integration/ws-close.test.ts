/**
 * Closing an owner socket costs no thrown-away errors: Node's `end()` on a
 * stream that has finished writing builds an ERR_STREAM_ALREADY_FINISHED
 * with a stack trace and drops it, and `ws` makes up to three such calls on
 * every completed close (gateway.ts quietEnd). The closes stay what they were:
 * the client sees its code, the relay forgets the socket.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, TestSocket, waitFor } from '../helpers/socket.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startRelay();
});
afterAll(() => t.close());

/**
 * Counts plain `end()` calls that reach Node's own end() on a finished
 * server-side stream (the relay's TCP socket, or ws's frame receiver on the
 * server side): each one builds an error for nothing. The test's own
 * clients are not counted.
 */
function countWastedEnds(): { count: () => number; restore: () => void } {
  let wasted = 0;
  const patched: [object, PropertyDescriptor][] = [];
  for (const proto of [Writable.prototype, Duplex.prototype]) {
    const own = Object.getOwnPropertyDescriptor(proto, 'end')!;
    const end = own.value as (...a: unknown[]) => unknown;
    patched.push([proto, own]);
    Object.defineProperty(proto, 'end', {
      ...own,
      value: function (
        this: Writable & { server?: unknown; _isServer?: boolean },
        ...a: unknown[]
      ) {
        const serverSide = (this.server ?? null) !== null || this._isServer === true;
        if (serverSide && a.every((x) => x === undefined) && this.writableFinished) wasted++;
        return end.apply(this, a);
      },
    });
  }
  return {
    count: () => wasted,
    restore: () => {
      for (const [proto, own] of patched) Object.defineProperty(proto, 'end', own);
    },
  };
}

/**
 * Runs `close` (which ends with the relay's sockets closing), waits until the
 * relay has forgotten them and run their 'end' and 'close' listeners, and
 * expects no wasted end() call on the way.
 */
async function expectNothingWasted(close: () => Promise<void>): Promise<void> {
  const spy = countWastedEnds();
  try {
    await close();
    await waitFor(() => t.relay.connections === 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(spy.count()).toBe(0);
  } finally {
    spy.restore();
  }
}

describe('owner socket closes', () => {
  it('a close the client starts: code 1000 seen, socket forgotten, no error built for nothing', async () => {
    await expectNothingWasted(async () => {
      const sockets = await Promise.all(
        Array.from({ length: 5 }, () => authedSocket(t.wsUrl, generateKeys())),
      );
      expect(t.relay.connections).toBe(5);
      for (const s of sockets) s.ws.close(1000);
      const closes = await Promise.all(sockets.map((s) => s.closed));
      expect(closes.map((c) => c.code)).toEqual([1000, 1000, 1000, 1000, 1000]);
    });
  });

  it('a close the relay starts (a refused handshake): the code and frame arrive, nothing wasted', async () => {
    await expectNothingWasted(async () => {
      const keys = generateKeys();
      const s = new TestSocket(`${t.wsUrl}/${keys.id}`);
      await s.opened;
      s.send({ publicKey: 'AAAA', challenge: { txt: 'x', sig: 'y' }, solution: 'z' });
      expect((await s.nextJson()).error).toBe('unauthorized');
      expect((await s.closed).code).toBe(4001);
    });
  });

  it('a client that sends its FIN only after the close frames: nothing wasted either', async () => {
    const { port } = new URL(t.url);
    const sock = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
    await expectNothingWasted(async () => {
      let got = Buffer.alloc(0);
      let ended = false;
      sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
      sock.on('end', () => (ended = true));
      await once(sock, 'connect');
      sock.write(
        `GET /${generateKeys().id} HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n` +
          'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
      await waitFor(() => got.includes('\r\n\r\n'));
      expect(got.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
      const head = got.indexOf('\r\n\r\n') + 4;
      // A masked close frame, code 1000 (mask 0: the payload as is).
      sock.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
      // The relay answers with its close frame and ends its side of the connection.
      await waitFor(() => got.length >= head + 4 && got[head] === 0x88);
      expect(got.readUInt16BE(head + 2)).toBe(1000);
      await waitFor(() => ended);
      // Only now the client's FIN: the relay's socket finished writing long before.
      await new Promise((r) => setTimeout(r, 50));
      sock.end();
    }).finally(() => sock.destroy());
  });

  it('a client that drops the connection is forgotten, and the relay serves the next one', async () => {
    const dropped = await authedSocket(t.wsUrl, generateKeys());
    dropped.ws.terminate();
    await waitFor(() => t.relay.connections === 0);
    const next = await authedSocket(t.wsUrl, generateKeys());
    expect(t.relay.connections).toBe(1);
    next.ws.close(1000);
    expect((await next.closed).code).toBe(1000);
  });
});
