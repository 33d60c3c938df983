/** Signed posts and the inbox policy (PROTOCOL.md §2.1) on both engines and across two relays. */
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeB64url, encodeB64url } from '../../src/client/b64url.js';
import { connect, type WebSocketConstructor } from '../../src/client/connection.js';
import { generateKeys, signPost, type OwnerKeys } from '../../src/client/keys.js';
import { OwnerSession } from '../../src/client/owner.js';
import { post } from '../../src/client/post.js';
import { bothEngines } from '../helpers/engines.js';
import { relaysPerTest } from '../helpers/relay.js';
import { postRepeated } from '../helpers/socket.js';

const engines = bothEngines();
const relay = relaysPerTest();

function send(url: string, id: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${url}/${id}`, { method: 'POST', headers, body });
}

async function expectError(res: Response, status: number, error: string, message?: RegExp) {
  const body = (await res.json()) as { error: string; message: string };
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body.error).toBe(error);
  if (message) expect(body.message).toMatch(message);
}

const signed = (sender: OwnerKeys, inbox: string, body: string, time = Date.now()) =>
  signPost(sender, inbox, new TextEncoder().encode(body), time);

describe.each(engines)('signed posts on %s', (_name, engine) => {
  it('a verified sender is named in fetched messages and ack-mode envelopes, not in legacy frames', async () => {
    const r = await relay(engine());
    const owner = generateKeys();
    const sender = generateKeys();
    await post(`${r.url}/${owner.id}`, 'signed hello', { sign: sender });
    await post(`${r.url}/${owner.id}`, 'anonymous hello');
    const session = await OwnerSession.login(r.url, owner);
    const fetched = await session.fetch();
    expect(fetched.map((m) => [m.data, m.from])).toEqual([
      ['signed hello', sender.id],
      ['anonymous hello', undefined],
    ]);
    await session.ack(fetched.map((m) => m.id));

    // ack-mode WebSocket envelope
    await post(`${r.url}/${owner.id}`, 'over the socket', { sign: sender });
    const conn = connect({
      url: r.url,
      keys: owner,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      ack: true,
    });
    try {
      for await (const msg of conn) {
        expect(msg).toMatchObject({ data: 'over the socket', from: sender.id });
        break;
      }
    } finally {
      conn.close();
    }

    // legacy frame (another owner): exactly the body
    const legacyOwner = generateKeys();
    const legacy = new WebSocket(`${r.wsUrl}/${legacyOwner.id}`);
    const frames: string[] = [];
    let posted: Promise<unknown> = Promise.resolve();
    await new Promise<void>((resolve, reject) => {
      legacy.on('error', reject);
      legacy.on('open', () => legacy.send('{"get":"challenge"}'));
      legacy.on('message', (data) => {
        const text = data.toString();
        const msg = text.startsWith('{"challenge"') ? JSON.parse(text) : null;
        if (msg?.challenge) {
          const sig = p256.sign(decodeB64url(msg.challenge.txt)!, legacyOwner.privateKey, {
            prehash: true,
          });
          legacy.send(
            JSON.stringify({
              publicKey: encodeB64url(legacyOwner.publicKey),
              challenge: msg.challenge,
              solution: encodeB64url(sig),
            }),
          );
        } else if (text === '{"message":"handshake done"}') {
          posted = post(`${r.url}/${legacyOwner.id}`, 'legacy body', { sign: sender });
        } else {
          frames.push(text);
          resolve();
        }
      });
    });
    await posted;
    legacy.close();
    expect(frames).toEqual(['legacy body']);
  });

  it('refuses bad signatures: missing header, bad time, stale, wrong key, other body, other inbox', async () => {
    const r = await relay(engine());
    const owner = generateKeys();
    const sender = generateKeys();
    const other = generateKeys();
    const h = signed(sender, owner.id, 'body');
    const noSig: Record<string, string> = { ...h };
    delete noSig['Npchat-Signature'];
    await expectError(
      await send(r.url, owner.id, 'body', noSig),
      401,
      'bad_signature',
      /all three/,
    );
    await expectError(
      await send(r.url, owner.id, 'body', { ...h, 'Npchat-Time': 'soon' }),
      401,
      'bad_signature',
      /milliseconds/,
    );
    for (const skew of [-301_000, 301_000]) {
      const stale = signed(sender, owner.id, 'body', Date.now() + skew);
      await expectError(await send(r.url, owner.id, 'body', stale), 401, 'stale_signature');
    }
    // signed by another key than the one named
    const wrongKey = { ...h, 'Npchat-From': encodeB64url(other.publicKey) };
    await expectError(await send(r.url, owner.id, 'body', wrongKey), 401, 'bad_signature');
    // a signature of another body, and of the same body for another inbox
    await expectError(await send(r.url, owner.id, 'other body', h), 401, 'bad_signature');
    const forOther = signed(sender, other.id, 'body');
    await expectError(await send(r.url, owner.id, 'body', forOther), 401, 'bad_signature');
    // not a key at all
    const notKey = { ...h, 'Npchat-From': 'AAAA' };
    await expectError(await send(r.url, owner.id, 'body', notKey), 401, 'bad_signature', /P-256/);
    // any of the three headers twice (node:http would join the lines into one value)
    for (const name of ['Npchat-From', 'Npchat-Time', 'Npchat-Signature'] as const) {
      const twice = await postRepeated(r.url, owner.id, 'body', {
        ...h,
        [name]: [h[name], h[name]],
      });
      expect(twice.status).toBe(401);
      expect(twice.json).toMatchObject({ error: 'bad_signature' });
      expect(twice.json.message).toMatch(/appears more than once/);
    }
    // and the honest one works
    expect((await send(r.url, owner.id, 'body', h)).status).toBe(200);
  });

  it('refuses a replay, also with the signature re-encoded (high-S, DER)', async () => {
    const r = await relay(engine());
    const owner = generateKeys();
    const sender = generateKeys();
    const h = signed(sender, owner.id, 'once');
    expect((await send(r.url, owner.id, 'once', h)).status).toBe(200);
    await expectError(await send(r.url, owner.id, 'once', h), 409, 'replayed');
    const sig = p256.Signature.fromBytes(decodeB64url(h['Npchat-Signature'])!);
    const n = p256.Point.CURVE().n;
    const flipped = new p256.Signature(sig.r, n - sig.s);
    for (const reencoded of [flipped.toBytes(), sig.toBytes('der')]) {
      const again = { ...h, 'Npchat-Signature': encodeB64url(reencoded) };
      await expectError(await send(r.url, owner.id, 'once', again), 409, 'replayed');
    }
  });

  it('refuses a replay with the sender key re-encoded (compressed, legacy short form)', async () => {
    const r = await relay(engine());
    const owner = generateKeys();
    const sender = generateKeys();
    const h = signed(sender, owner.id, 'once');
    expect((await send(r.url, owner.id, 'once', h)).status).toBe(200);
    // The signature does not cover the key's encoding: anyone can re-encode it.
    const compressed = p256.Point.fromBytes(sender.publicKey).toBytes(true);
    const again = { ...h, 'Npchat-From': encodeB64url(compressed) };
    await expectError(await send(r.url, owner.id, 'once', again), 409, 'replayed');

    // A key whose X starts with a zero byte, sent as a legacy Go client would
    // (0x04 || X.Bytes() || Y.Bytes(), 64 bytes), then replayed in full.
    let legacy = generateKeys();
    while (legacy.publicKey[1] !== 0) legacy = generateKeys();
    const short = Uint8Array.of(0x04, ...legacy.publicKey.subarray(2));
    const hl = { ...signed(legacy, owner.id, 'twice'), 'Npchat-From': encodeB64url(short) };
    expect((await send(r.url, owner.id, 'twice', hl)).status).toBe(200);
    const full = { ...hl, 'Npchat-From': encodeB64url(legacy.publicKey) };
    await expectError(await send(r.url, owner.id, 'twice', full), 409, 'replayed');
  });

  it('an Idempotency-Key retry of a signed post gets its first answer, not 409', async () => {
    const r = await relay(engine());
    const owner = generateKeys();
    const h = { ...signed(generateKeys(), owner.id, 'retry'), 'Idempotency-Key': 'k1' };
    const first = (await (await send(r.url, owner.id, 'retry', h)).json()) as { id: string };
    const again = await send(r.url, owner.id, 'retry', h);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(first.id);
  });

  it('a signed post refused by a full inbox may be sent again unchanged later', async () => {
    const r = await relay({ ...engine(), inboxMaxMessages: 1 });
    const owner = generateKeys();
    expect((await send(r.url, owner.id, 'fill')).status).toBe(200);
    const h = signed(generateKeys(), owner.id, 'later');
    await expectError(await send(r.url, owner.id, 'later', h), 507, 'inbox_full');
    const session = await OwnerSession.login(r.url, owner);
    await session.ack((await session.fetch()).map((m) => m.id));
    expect((await send(r.url, owner.id, 'later', h)).status).toBe(200);
  });

  it('policy: requireSignature and acceptFrom refuse strangers with 403 refused', async () => {
    const r = await relay(engine());
    const owner = generateKeys();
    const friend = generateKeys();
    const stranger = generateKeys();
    const session = await OwnerSession.login(r.url, owner);
    expect(await session.getPolicy()).toEqual({ requireSignature: false, acceptFrom: null });
    expect((await send(r.url, owner.id, 'open')).status).toBe(200);

    await session.putPolicy({ requireSignature: true, acceptFrom: null });
    await expectError(await send(r.url, owner.id, 'anon'), 403, 'refused');
    expect((await send(r.url, owner.id, 's', signed(stranger, owner.id, 's'))).status).toBe(200);

    await session.putPolicy({ requireSignature: false, acceptFrom: [friend.id] });
    expect(await session.getPolicy()).toEqual({ requireSignature: false, acceptFrom: [friend.id] });
    expect((await send(r.url, owner.id, 'f', signed(friend, owner.id, 'f'))).status).toBe(200);
    await expectError(
      await send(r.url, owner.id, 'x', signed(stranger, owner.id, 'x')),
      403,
      'refused',
    );
    await expectError(await send(r.url, owner.id, 'anon'), 403, 'refused');

    await session.putPolicy({ requireSignature: false, acceptFrom: null });
    expect((await send(r.url, owner.id, 'open again')).status).toBe(200);

    for (const bad of [
      { requireSignature: 'yes', acceptFrom: null },
      { requireSignature: true },
      { requireSignature: true, acceptFrom: ['not an id'] },
    ]) {
      const res = await fetch(`${r.url}/${owner.id}/policy`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${session.token}` },
        body: JSON.stringify(bad),
      });
      await expectError(res, 400, 'invalid_body');
    }
    // only the owner reads or sets it
    expect((await fetch(`${r.url}/${owner.id}/policy`)).status).toBe(401);
  });
});

describe('signed posts across two relays of one Redis', () => {
  const [, redisEngine] = engines[1]!;

  it('a signed post replayed on the other relay is refused; a policy set on A holds on B', async () => {
    const config = redisEngine();
    const [a, b] = await Promise.all([relay(config), relay(config)]);
    const owner = generateKeys();
    const h = signed(generateKeys(), owner.id, 'once');
    expect((await send(a.url, owner.id, 'once', h)).status).toBe(200);
    await expectError(await send(b.url, owner.id, 'once', h), 409, 'replayed');
    const session = await OwnerSession.login(a.url, owner);
    await session.putPolicy({ requireSignature: true, acceptFrom: null });
    await expectError(await send(b.url, owner.id, 'anon'), 403, 'refused');
  });
});
