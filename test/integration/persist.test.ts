/** NPCHAT_PERSIST_FILE: the memory queue across a graceful restart. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { authedSocket, postText } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';
import { tempDir } from '../helpers/cleanup.js';

async function stop(child: Awaited<ReturnType<typeof spawnRelay>>['child']): Promise<void> {
  child.proc.kill('SIGTERM');
  expect(await child.exited).toBe(0);
}

describe('persist file', () => {
  it('keeps stored messages (text, binary, unacked) and idempotency keys across a graceful restart', async () => {
    const dir = tempDir('npchat-persist-');
    const file = join(dir, 'queue.json');
    const keys = generateKeys();
    const first = await spawnRelay(['--persistfile', file]);
    for (let i = 0; i < 5; i++) await postText(first.url, keys.id, `kept ${i}`);
    const bin = Buffer.from([0, 200, 255]);
    await fetch(`${first.url}/${keys.id}`, {
      method: 'POST',
      body: bin,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    const once = await postText(first.url, keys.id, 'idempotent', { 'Idempotency-Key': 'k1' });
    await stop(first.child);
    expect(existsSync(file)).toBe(true);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'npchat-relay-queue', version: 2 });
    expect(lines.filter((l) => l.startsWith('{"m":'))).toHaveLength(7);

    const second = await spawnRelay(['--persistfile', file]);
    try {
      expect(second.child.stdout()).toContain('queue loaded from persist file');
      // Loaded, then deleted: a crash now cannot bring back what gets delivered.
      expect(existsSync(file)).toBe(false);
      const retry = await postText(second.url, keys.id, 'idempotent', { 'Idempotency-Key': 'k1' });
      expect(retry.json).toEqual(once.json);
      const s = await authedSocket(second.url.replace('http', 'ws'), keys);
      for (let i = 0; i < 5; i++) expect((await s.next()).text).toBe(`kept ${i}`);
      const f = await s.next();
      expect(f.binary).toBe(true);
      expect(f.data).toEqual(bin);
      expect((await s.next()).text).toBe('idempotent');
      // New ids keep increasing after the loaded ones.
      const after = await postText(second.url, keys.id, 'new');
      expect(BigInt(after.json.id as string)).toBeGreaterThan(BigInt(once.json.id as string));
      expect((await s.next()).text).toBe('new');
      s.close();
    } finally {
      await stop(second.child);
    }
  });

  it('drops expired messages on load', async () => {
    const dir = tempDir('npchat-persist-');
    const file = join(dir, 'queue.json');
    const keys = generateKeys();
    const now = Date.now();
    const entry = (id: string, text: string, expiresAt: number) => ({
      inbox: keys.id,
      id,
      t: now - 1000,
      expiresAt,
      binary: false,
      body: Buffer.from(text).toString('base64'),
    });
    writeFileSync(
      file,
      JSON.stringify({
        format: 'npchat-relay-queue',
        version: 1,
        savedAt: now,
        messages: [entry('100', 'expired', now - 1), entry('101', 'alive', now + 60_000)],
        keys: [],
      }),
    );
    const relay = await spawnRelay(['--persistfile', file]);
    try {
      const s = await authedSocket(relay.url.replace('http', 'ws'), keys);
      expect((await s.next()).text).toBe('alive');
      await postText(relay.url, keys.id, 'marker');
      expect((await s.next()).text).toBe('marker');
      s.close();
    } finally {
      await stop(relay.child);
    }
  });

  it.each([
    ['not JSON', '{"format": "npchat-relay-queue", "vers'],
    ['another format', '{"format":"something else","version":1,"messages":[],"keys":[]}'],
    [
      'a malformed entry',
      '{"format":"npchat-relay-queue","version":1,"messages":[{"id":5}],"keys":[]}',
    ],
    [
      'a malformed line',
      '{"format":"npchat-relay-queue","version":2,"savedAt":1}\n{"m":{"id":5}}\n',
    ],
    ['empty', ''],
  ])(
    'a corrupt file (%s) is moved aside and reported; the relay starts empty',
    async (_name, content) => {
      const dir = tempDir('npchat-persist-');
      const file = join(dir, 'queue.json');
      writeFileSync(file, content);
      const relay = await spawnRelay(['--persistfile', file]);
      try {
        expect(relay.child.stdout()).toContain('persist file is not a readable queue: moved aside');
        const aside = readdirSync(dir).filter((f) => f.startsWith('queue.json.corrupt-'));
        expect(aside).toHaveLength(1);
        expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(content);
        expect((await fetch(`${relay.url}/ready`)).status).toBe(200);
      } finally {
        await stop(relay.child);
      }
      // The shutdown wrote a fresh, valid (empty) queue file: just its header line.
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'npchat-relay-queue', version: 2 });
    },
  );

  it('refuses a persist file together with Redis (exit 2, one sentence)', async () => {
    const { runMain } = await import('../helpers/spawn.js');
    const c = runMain(['--persistfile', '/tmp/x.json', '--redis', 'redis://127.0.0.1:1']);
    expect(await c.exited).toBe(2);
    expect(c.stderr()).toMatch(/persistFile .*memory store/);
  });
});
