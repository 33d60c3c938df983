/** HTTP ingress (PROTOCOL.md §2) and ops endpoints (§5). */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';
import { vectors } from '../helpers/vectors.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startRelay({ maxMessageBytes: 1024 });
});
afterAll(() => t.close());

const ID = generateKeys().id;

async function call(method: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${t.url}${path}`, { method, ...init });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // plain text answers
  }
  return { status: res.status, headers: res.headers, text, json };
}

function expectError(
  r: { status: number; json: Record<string, unknown>; headers: Headers },
  status: number,
  code: string,
) {
  expect(r.status).toBe(status);
  expect(r.json.error).toBe(code);
  expect(typeof r.json.message).toBe('string');
  expect((r.json.message as string).length).toBeGreaterThan(10);
  expect(r.headers.get('access-control-allow-origin')).toBe('*');
}

describe('POST /{id}', () => {
  it('answers 200 {"message":"sent","id","t"} with the same shape online and offline', async () => {
    const offline = await postText(t.url, ID, 'hi');
    expect(offline.status).toBe(200);
    expect(Object.keys(offline.json).sort()).toEqual(['id', 'message', 't']);
    expect(offline.json.message).toBe('sent');
    expect(typeof offline.json.id).toBe('string');
    expect(Math.abs(Number(offline.json.t) - Date.now())).toBeLessThan(5000);
    const keys = generateKeys();
    const s = await authedSocket(t.wsUrl, keys);
    const online = await postText(t.url, keys.id, 'hi');
    expect(online.status).toBe(200);
    expect(Object.keys(online.json).sort()).toEqual(Object.keys(offline.json).sort());
    expect(online.headers.get('content-type')).toBe(offline.headers.get('content-type'));
    s.close();
  });

  for (const id of vectors.invalidIds.filter((i) => i !== '' && !i.includes('/'))) {
    it(`400 invalid_id for ${JSON.stringify(id)}`, async () => {
      expectError(await call('POST', `/${id}`, { body: 'x' }), 400, 'invalid_id');
    });
  }

  it('400 invalid_id for a path traversal sent raw', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.url}/../../etc/passwd`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.path = '/../../etc/passwd';
      req.on('error', reject);
      req.end('x');
    });
    expect(status).toBe(400);
  });

  it('400 invalid_body for an empty body', async () => {
    expectError(await call('POST', `/${ID}`, { body: '' }), 400, 'invalid_body');
  });

  it('400 invalid_body for text that is not UTF-8, and 200 for the same bytes as binary', async () => {
    const body = Buffer.from([0x68, 0xff, 0xfe, 0x69]);
    const bad = await call('POST', `/${ID}`, { body, headers: { 'Content-Type': 'text/plain' } });
    expectError(bad, 400, 'invalid_body');
    expect(bad.json.message).toMatch(/UTF-8/);
    const overlong = Buffer.from([0xc0, 0xaf]);
    expectError(await call('POST', `/${ID}`, { body: overlong }), 400, 'invalid_body');
    const ok = await call('POST', `/${ID}`, {
      body,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(ok.status).toBe(200);
  });

  it('400 invalid_ttl for a TTL header that is not whole seconds', async () => {
    for (const ttl of ['-1', 'abc', '1.5', '']) {
      expectError(
        await call('POST', `/${ID}`, { body: 'x', headers: { TTL: ttl } }),
        400,
        'invalid_ttl',
      );
    }
  });

  it('413 too_large from Content-Length, before the body is read', async () => {
    const r = await call('POST', `/${ID}`, { body: 'x'.repeat(1025) });
    expectError(r, 413, 'too_large');
    expect((await call('POST', `/${ID}`, { body: 'x'.repeat(1024) })).status).toBe(200);
  });

  it('413 too_large for a chunked body as soon as it passes the limit, without waiting for the rest', async () => {
    const { status, body, connection } = await new Promise<{
      status: number;
      body: string;
      connection: string | undefined;
    }>((resolve, reject) => {
      const req = request(`${t.url}/${ID}`, { method: 'POST' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body, connection: res.headers.connection }),
        );
      });
      req.on('error', reject);
      // 2 KB of a body that never ends: the answer must come anyway.
      req.write('y'.repeat(2048));
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).error).toBe('too_large');
    // The rest of the body is never read: the connection closes after the answer.
    expect(connection).toBe('close');
  });

  it('405 method_not_allowed with Allow for other methods on an inbox', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const r = await call(method, `/${ID}`);
      expectError(r, 405, 'method_not_allowed');
      expect(r.headers.get('allow')).toBe('GET, POST, OPTIONS');
    }
  });

  it('400 upgrade_required for GET without an upgrade', async () => {
    expectError(await call('GET', `/${ID}`), 400, 'upgrade_required');
  });

  it('404 not_found for unknown paths', async () => {
    expectError(await call('GET', '/'), 404, 'not_found');
    expectError(await call('POST', `/${ID}/nothing`, { body: 'x' }), 404, 'not_found');
  });

  it('CORS: preflight answers 204 with the allowed methods and headers', async () => {
    const r = await call('OPTIONS', `/${ID}`, {
      headers: { Origin: 'https://example.org', 'Access-Control-Request-Method': 'POST' },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-methods')).toContain('POST');
    expect(r.headers.get('access-control-allow-headers')).toContain('TTL');
  });

  it('CORS: every answer carries Access-Control-Allow-Origin: *, exposes Retry-After, is not cached', async () => {
    for (const r of [
      await call('POST', `/${ID}`, { body: 'x' }),
      await call('GET', '/health'),
      await call('GET', '/ping'),
      await call('GET', '/nope/nope'),
    ]) {
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      // A browser reads Retry-After only if it is exposed.
      expect(r.headers.get('access-control-expose-headers')).toBe('Retry-After');
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
  });
});

describe('ops endpoints', () => {
  it('/health, /ready, /ping', async () => {
    expect((await call('GET', '/health')).json).toEqual({ status: 'ok' });
    const ready = await call('GET', '/ready');
    expect(ready.status).toBe(200);
    const ping = await call('GET', '/ping');
    expect(ping.text).toBe('pong');
  });

  it('/info reports version, time, limits and the store', async () => {
    const { json } = await call('GET', '/info');
    expect(json).toMatchObject({
      status: 'ok',
      msgTtl: 60,
      maxMessageBytes: 1024,
      store: 'memory',
    });
    expect(json.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Math.abs(Number(json.time) - Date.now())).toBeLessThan(5000);
    expect(Number(json.startTime)).toBeLessThanOrEqual(Number(json.time));
  });

  it('405 for POST on an ops endpoint', async () => {
    expectError(await call('POST', '/health', { body: 'x' }), 405, 'method_not_allowed');
  });
});
