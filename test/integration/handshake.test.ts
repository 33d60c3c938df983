/** The WebSocket handshake (PROTOCOL.md §3.1) and every rejection path with its close code. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeB64url, encodeB64url } from '../../src/client/b64url.js';
import { generateKeys, keysFromPkcs8 } from '../../src/client/keys.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { compressedKeys, forms, legacyShortKeys } from '../helpers/signatures.js';
import { authedSocket, postText, solutionFor, TestSocket, waitFor } from '../helpers/socket.js';
import { vectors } from '../helpers/vectors.js';
import { MAX_FRAGMENTS } from '../../src/ws/gateway.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startRelay({ handshakeTimeout: 1, challengeTtl: 2 }, 'debug');
});
afterAll(() => t.close());

async function open(id: string): Promise<TestSocket> {
  const s = new TestSocket(`${t.wsUrl}/${id}`);
  await s.opened;
  return s;
}

/** Expects the error frame then the close code. */
async function expectRejected(s: TestSocket, code: number, error: string, message?: RegExp) {
  const frame = await s.nextJson();
  expect(frame.error).toBe(error);
  expect(typeof frame.message).toBe('string');
  if (message) expect(frame.message).toMatch(message);
  expect((await s.closed).code).toBe(code);
}

describe('handshake: success', () => {
  it('answers the challenge request and accepts the solution with exactly {"message":"handshake done"}', async () => {
    const keys = generateKeys();
    const s = await open(keys.id);
    const challenge = await s.challenge();
    expect(Object.keys(challenge).sort()).toEqual(['sig', 'txt']);
    expect(decodeB64url(challenge.txt)!.length).toBeGreaterThanOrEqual(16);
    s.send(solutionFor(keys, challenge));
    expect((await s.next()).text).toBe('{"message":"handshake done"}');
    s.close();
  });

  it('accepts the vector key (PKCS#8) end to end', async () => {
    const keys = keysFromPkcs8(decodeB64url(vectors.client.privateKeyPkcs8)!);
    (await authedSocket(t.wsUrl, keys)).close();
  });

  for (const [name, make] of Object.entries(forms)) {
    it(`accepts a solution in ${name} form`, async () => {
      const keys = generateKeys();
      const s = await open(keys.id);
      const challenge = await s.challenge();
      s.send({
        publicKey: encodeB64url(keys.publicKey),
        challenge,
        solution: make(keys, challenge.txt),
      });
      expect(await s.nextJson()).toEqual({ message: 'handshake done' });
      s.close();
    });
  }

  it('accepts a 33-byte compressed public key (id = hash of those bytes)', async () => {
    (await authedSocket(t.wsUrl, compressedKeys(generateKeys()))).close();
  });

  it('accepts a legacy public key shorter than 65 bytes', async () => {
    const keys = legacyShortKeys();
    expect(keys.publicKey.length).toBe(64);
    (await authedSocket(t.wsUrl, keys)).close();
  });

  it('lets a client ask for a new challenge and answer the latest one', async () => {
    const keys = generateKeys();
    const s = await open(keys.id);
    await s.challenge();
    const second = await s.challenge();
    s.send(solutionFor(keys, second));
    expect(await s.nextJson()).toEqual({ message: 'handshake done' });
    s.close();
  });
});

describe('handshake: rotation', () => {
  it('500 concurrent handshakes with freshKey 5 all succeed', async () => {
    const r = await startRelay({ freshKey: 5 });
    try {
      const sockets = await Promise.all(
        Array.from({ length: 500 }, () => authedSocket(r.wsUrl, generateKeys())),
      );
      expect(sockets.length).toBe(500);
      for (const s of sockets) s.close();
    } finally {
      await r.close();
    }
  });
});

describe('handshake: rejections', () => {
  it('id mismatch: a valid solution for another inbox -> 4001', async () => {
    const keys = generateKeys();
    const s = await open(generateKeys().id);
    s.send(solutionFor(keys, await s.challenge()));
    await expectRejected(s, 4001, 'unauthorized', /public key/);
  });

  it('tampered solution -> 4001', async () => {
    const keys = generateKeys();
    const s = await open(keys.id);
    const sol = solutionFor(keys, await s.challenge());
    const bytes = decodeB64url(sol.solution)!;
    bytes[10] = bytes[10]! ^ 0x01;
    s.send({ ...sol, solution: encodeB64url(bytes) });
    await expectRejected(s, 4001, 'unauthorized', /solution/);
  });

  it("solution signed by another key over this inbox's public key -> 4001", async () => {
    const keys = generateKeys();
    const other = generateKeys();
    const s = await open(keys.id);
    const challenge = await s.challenge();
    s.send({ ...solutionFor(other, challenge), publicKey: encodeB64url(keys.publicKey) });
    await expectRejected(s, 4001, 'unauthorized', /solution/);
  });

  it('forged server signature -> 4001', async () => {
    const keys = generateKeys();
    const s = await open(keys.id);
    const challenge = await s.challenge();
    const sig = decodeB64url(challenge.sig)!;
    sig[3] = sig[3]! ^ 0x80;
    s.send(solutionFor(keys, { ...challenge, sig: encodeB64url(sig) }));
    await expectRejected(s, 4001, 'unauthorized', /not signed by this relay/);
  });

  it('a challenge text of our own making -> 4001', async () => {
    const keys = generateKeys();
    const s = await open(keys.id);
    const challenge = await s.challenge();
    const txt = encodeB64url(new Uint8Array(33).fill(7));
    s.send(solutionFor(keys, { txt, sig: challenge.sig }));
    await expectRejected(s, 4001, 'unauthorized', /not signed by this relay/);
  });

  it('expired challenge -> 4001', async () => {
    const r = await startRelay({ challengeTtl: 1 });
    try {
      const keys = generateKeys();
      const s = new TestSocket(`${r.wsUrl}/${keys.id}`);
      await s.opened;
      const challenge = await s.challenge();
      const expiresAt = Number(Buffer.from(decodeB64url(challenge.txt)!).readBigUInt64BE(9));
      await waitFor(() => Date.now() > expiresAt, 3000);
      s.send(solutionFor(keys, challenge));
      await expectRejected(s, 4001, 'unauthorized', /expired/);
    } finally {
      await r.close();
    }
  });

  it('challenge issued on another connection -> 4001', async () => {
    const keys = generateKeys();
    const a = await open(keys.id);
    const b = await open(keys.id);
    const fromA = await a.challenge();
    await b.challenge();
    b.send(solutionFor(keys, fromA));
    await expectRejected(b, 4001, 'unauthorized', /not issued on this connection/);
    // A's own handshake with the same challenge still works.
    a.send(solutionFor(keys, fromA));
    expect(await a.nextJson()).toEqual({ message: 'handshake done' });
    a.close();
  });

  it('solution before any challenge on this connection -> 4001', async () => {
    const keys = generateKeys();
    const a = await open(keys.id);
    const challenge = await a.challenge();
    a.close();
    const b = await open(keys.id);
    b.send(solutionFor(keys, challenge));
    await expectRejected(b, 4001, 'unauthorized', /not issued on this connection/);
  });

  it('a challenge cannot be reused on its connection after the handshake', async () => {
    const keys = generateKeys();
    const s = await authedSocket(t.wsUrl, keys);
    // After the handshake, frames are ignored: the socket stays open and silent.
    s.send({ get: 'challenge' });
    await expect(s.next(300)).rejects.toThrow('no frame in time');
    s.close();
  });

  it.each([
    ['garbage text', 'hello there'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"challenge"'],
    ['null', 'null'],
    ['an unknown command', '{"get":"messages"}'],
    [
      'a solution with a numeric publicKey',
      '{"publicKey":5,"challenge":{"txt":"a","sig":"b"},"solution":"c"}',
    ],
  ])('%s before the handshake -> 4000', async (_name, frame) => {
    const s = await open(generateKeys().id);
    s.send(frame);
    await expectRejected(s, 4000, 'bad_request');
  });

  it('binary frame before the handshake -> 4000', async () => {
    const s = await open(generateKeys().id);
    s.ws.send(Buffer.from('{"get":"challenge"}'), { binary: true });
    await expectRejected(s, 4000, 'bad_request', /binary/);
  });

  it('no handshake within handshakeTimeout -> 4408', async () => {
    const s = await open(generateKeys().id);
    await s.challenge();
    await expectRejected(s, 4408, 'handshake_timeout');
  });

  it('frame over maxMessageBytes -> 1009', async () => {
    const r = await startRelay({ maxMessageBytes: 1024 });
    try {
      const s = new TestSocket(`${r.wsUrl}/${generateKeys().id}`);
      await s.opened;
      s.send('x'.repeat(2000));
      expect((await s.closed).code).toBe(1009);
    } finally {
      await r.close();
    }
  });

  it(`a message in up to ${MAX_FRAGMENTS} fragments is read; in more -> 1008`, async () => {
    const text = `{"get":"challenge"${' '.repeat(2 * MAX_FRAGMENTS)}}`;
    /** Sends `text` in `n` fragments (a text frame, then continuation frames). */
    const fragmented = (s: TestSocket, n: number) => {
      const size = Math.ceil(text.length / n);
      for (let i = 0; i < n; i++) {
        s.ws.send(text.slice(i * size, (i + 1) * size), { fin: i === n - 1 });
      }
    };
    const ok = await open(generateKeys().id);
    fragmented(ok, MAX_FRAGMENTS);
    expect(await ok.nextJson()).toMatchObject({ challenge: { txt: expect.any(String) } });
    ok.close();
    const over = await open(generateKeys().id);
    fragmented(over, MAX_FRAGMENTS + 1);
    expect((await over.closed).code).toBe(1008);
  });

  it('sends no stored message to a socket that failed the handshake', async () => {
    const keys = generateKeys();
    await postText(t.url, keys.id, 'secret');
    const s = await open(keys.id);
    s.send(solutionFor(generateKeys(), await s.challenge()));
    const frame = await s.nextJson();
    expect(frame.error).toBe('unauthorized');
    expect((await s.closed).code).toBe(4001);
    expect(s.buffered).toBe(0);
    // and the message is still there for the owner
    const owner = await authedSocket(t.wsUrl, keys);
    expect((await owner.next()).text).toBe('secret');
    owner.close();
  });

  it('refuses an upgrade on a path that is not an inbox id', async () => {
    const s = new TestSocket(`${t.wsUrl}/not-an-id`);
    await expect(s.opened).rejects.toThrow('400');
  });

  it('logs handshake failures at debug with the reason, and no keys or bodies', async () => {
    const keys = generateKeys();
    await postText(t.url, keys.id, 'confidential body text');
    const s = await open(generateKeys().id);
    s.send(solutionFor(keys, await s.challenge()));
    await s.closed;
    const entry = t.logs.find(
      (l) => l.msg === 'handshake failed' && /public key/.test(String(l.reason)),
    );
    expect(entry).toBeDefined();
    expect(entry!.level).toBe(20);
    expect(JSON.stringify(t.logs)).not.toContain(encodeB64url(keys.publicKey));
    expect(JSON.stringify(t.logs)).not.toContain('confidential body text');
  });
});
