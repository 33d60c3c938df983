/**
 * Nothing a client sends can crash the relay or stop it serving others:
 * malformed request targets (which `new URL` cannot parse), raw garbage on
 * the socket, hostile headers and WebSocket frames, thrown at a running
 * relay by hand and by fast-check; after each, a normal POST and a full
 * handshake must still work.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { generateKeys } from '../../src/client/keys.js';
import { replayable } from '../helpers/fc.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';

let t: TestRelay;
let port: number;
beforeAll(async () => {
  t = await startRelay({ handshakeTimeout: 2 }, 'debug');
  port = Number(new URL(t.url).port);
});
afterAll(() => t.close());

/** Sends raw bytes, resolves with whatever came back before the close (or 1 s). */
function raw(bytes: string | Buffer, ms = 1000): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    sock.on('data', (c: Buffer) => (out += c.toString('latin1')));
    sock.on('error', done);
    sock.on('close', done);
    sock.write(bytes);
  });
}

const upgradeHeaders =
  'Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

async function stillServes(): Promise<void> {
  const keys = generateKeys();
  expect((await postText(t.url, keys.id, 'still here')).status).toBe(200);
  const s = await authedSocket(t.wsUrl, keys);
  expect((await s.next()).text).toBe('still here');
  s.close();
}

describe('malformed input never crashes the relay', () => {
  it.each(['//[', '//x:99999', '//%zz', '//:', 'http://[::1', '//', '*', '/%', '/\u00ff', 'x'])(
    'upgrade to %j is answered with a catalog error',
    async (target) => {
      const answer = await raw(`GET ${target} HTTP/1.1\r\n${upgradeHeaders}`);
      expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      await stillServes();
    },
  );

  it.each(['//[', '//x:99999', '//%zz', '//:', 'http://[::1', '//', '*'])(
    'POST %j is a 4xx, never 500',
    async (target) => {
      const answer = await raw(
        `POST ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      await stillServes();
    },
  );

  it('answers an absolute-form target by its path', async () => {
    const keys = generateKeys();
    const answer = await raw(
      `POST http://relay.example/${keys.id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('logs client mistakes at debug, never as errors with stacks', async () => {
    await raw(`GET //[ HTTP/1.1\r\n${upgradeHeaders}`);
    await raw(`POST // HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx`);
    // An upload cut off mid-body.
    await raw(
      `POST /${generateKeys().id} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc`,
      200,
    );
    await raw('NOT HTTP AT ALL\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    const errors = t.logs.filter((l) => Number(l.level) >= 50);
    expect(errors).toEqual([]);
    expect(t.logs.some((l) => l.msg === 'request refused' && l.code === 'bad_request')).toBe(true);
  });

  it('fast-check: hostile request lines, targets, headers and bodies', async () => {
    const target = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('//[', '//x:99999', '//%zz', '/', '*', 'http://[::1'),
      fc.string({ maxLength: 30 }).map((s) => `/${s}`),
      fc.string({ maxLength: 30 }).map((s) => `//${s}`),
      // the owner API's routes on a valid id, with hostile queries
      fc
        .tuple(
          fc.constantFrom(
            'challenge',
            'session',
            'messages',
            'ack',
            'keys',
            'keys/prekeys',
            'keys/count',
            'policy',
            'shareable',
            'data',
            'docs',
          ),
          fc.string({ maxLength: 20 }),
        )
        .map(([route, q]) => `/${generateKeys().id}/${route}?wait=${q}&limit=${q}`),
      fc.constantFrom('/openapi.json', '/docs', '/docs/init.js', '/docs/%2e%2e/x'),
    );
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'OPTIONS', 'HEAD', 'DELETE', 'BREW', '');
    const header = fc.tuple(
      fc.constantFrom(
        'Content-Length',
        'Transfer-Encoding',
        'Upgrade',
        'Connection',
        'TTL',
        'Idempotency-Key',
        'Content-Type',
        'X-Forwarded-For',
        'Sec-WebSocket-Key',
        'Sec-WebSocket-Version',
        'Authorization',
        'Npchat-From',
        'Npchat-Time',
        'Npchat-Signature',
      ),
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.string({ maxLength: 43 }).map((s) => `Bearer ${s}`),
      ),
    );
    const request = fc
      .record({
        method,
        target,
        headers: fc.array(header, { maxLength: 6 }),
        body: fc.oneof(
          fc.string({ maxLength: 50 }),
          fc.json({ maxDepth: 3 }),
          fc.constantFrom(
            '{"publicKey":"AAAA","challenge":{"txt":"A","sig":"A"},"solution":"A"}',
            '{"ids":["1","x",null]}',
            '{"identityKey":"A","signedPreKey":{"keyId":-1},"preKeys":[{}]}',
            '{"requireSignature":true,"acceptFrom":[1]}',
          ),
        ),
        garbage: fc.boolean(),
      })
      .map(({ method, target, headers, body, garbage }) =>
        garbage
          ? `${method} ${target}\r\n${body}\r\n\r\n`
          : `${method} ${target} HTTP/1.1\r\nHost: x\r\n${headers
              .map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, '')}`)
              .join('\r\n')}\r\n\r\n${body}`,
      );
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 5 }), async (requests) => {
        await Promise.all(requests.map((r) => raw(r, 300)));
        const keys = generateKeys();
        expect((await postText(t.url, keys.id, 'ok')).status).toBe(200);
      }),
      replayable('hostile requests', 60),
    );
    // Refused, every one of them, never an internal failure.
    expect(t.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
    await stillServes();
  }, 120_000);

  it('fast-check: hostile frames before and after the handshake', async () => {
    const frame = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.json(),
      fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
      fc.constantFrom(
        '{"get":"challenge"}',
        '{"ack":[]}',
        '{"ack":null}',
        '{"ack":[1,2,3]}',
        '{"publicKey":1,"challenge":{"txt":[],"sig":{}},"solution":null}',
        '{"publicKey":"AA","challenge":{"txt":"AA","sig":"AA"},"solution":"AA"}',
        '{"__proto__":{"x":1}}',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(frame, { maxLength: 8 }),
        fc.boolean(),
        fc.boolean(),
        async (frames, authenticated, ack) => {
          const keys = generateKeys();
          const ws: WebSocket = authenticated
            ? (await authedSocket(t.wsUrl, keys, { ack })).ws
            : await new Promise<WebSocket>((resolve, reject) => {
                const w = new WebSocket(`${t.wsUrl}/${keys.id}`);
                w.on('open', () => resolve(w));
                w.on('error', reject);
              });
          ws.on('error', () => {});
          for (const f of frames) if (ws.readyState === ws.OPEN) ws.send(f);
          await new Promise((r) => setTimeout(r, 20));
          ws.terminate();
          expect((await postText(t.url, generateKeys().id, 'ok')).status).toBe(200);
        },
      ),
      replayable('hostile frames', 40),
    );
    await stillServes();
  }, 120_000);
});
