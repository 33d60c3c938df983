/** With cert and privkey the relay serves HTTPS and WSS only. */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { solutionFor, TestSocket } from '../helpers/socket.js';
import { selfSignedCert } from '../helpers/certs.js';

let cert: string;
let key: string;
let t: TestRelay;
let ca: Buffer;

beforeAll(async () => {
  ({ cert, key } = selfSignedCert('npchat-tls-'));
  ca = readFileSync(cert);
  t = await startRelay({ cert, privkey: key });
});
afterAll(() => t.close());

function httpsPost(url: string, body: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', ca }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('TLS', () => {
  it('serves HTTPS and a WSS handshake that receives the message', async () => {
    expect(t.url.startsWith('https://')).toBe(true);
    const keys = generateKeys();
    const res = await httpsPost(`${t.url}/${keys.id}`, 'over tls');
    expect(res.status).toBe(200);
    const s = new TestSocket(`${t.wsUrl}/${keys.id}`, { ca });
    await s.opened;
    s.send(solutionFor(keys, await s.challenge()));
    expect(await s.nextJson()).toEqual({ message: 'handshake done' });
    expect((await s.next()).text).toBe('over tls');
    s.close();
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    const plain = t.url.replace('https://', 'http://');
    const res = await fetch(`${plain}/health`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(res).not.toBe(200);
  });

  it('rejects a client that does not trust the certificate', async () => {
    await expect(fetch(`${t.url}/health`)).rejects.toThrow();
  });
});
