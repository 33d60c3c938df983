/** The persist file streams: a queue far above the old 438 MiB failure saves and loads whole. */
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { loadQueue, saveQueue } from '../../src/store/persist.js';
import { tempDir } from '../helpers/cleanup.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = tempDir('npchat-persist-unit-');
  dirs.push(dir);
  return join(dir, 'queue.jsonl');
}
// The 600 MB file goes at once, not at the end of the run.
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const logger = createLogger('silent');
const inbox = (i: number) => `inbox${String(i % 97).padStart(38, '0')}`;

describe('persist file at any size', () => {
  it('saves and loads 480 MiB of queue (the old format failed at ~438 MiB)', async () => {
    const file = tempFile();
    const count = 7680; // 7680 x 64 KiB = 480 MiB of bodies
    const body = Buffer.alloc(64 * 1024, 0x61);
    const store = new MemoryStore({ cleanPeriodMs: 60_000 });
    const t = Date.now();
    for (let i = 0; i < count; i++) {
      body.writeUInt32BE(i, 0); // every stored body is its own copy: distinct first bytes
      await store.append(inbox(i), {
        body: Buffer.from(body),
        binary: true,
        t,
        ttlMs: 600_000,
      });
    }
    expect(saveQueue(file, store)).toBe(count);
    expect(statSync(file).size).toBeGreaterThan(480 * 1024 * 1024);
    await store.close();

    const loaded = new MemoryStore({ cleanPeriodMs: 60_000 });
    expect(await loadQueue(file, loaded, logger)).toBe(count);
    expect(loaded.size).toBe(count);
    const seen = new Set<number>();
    for (let i = 0; i < 97; i++) {
      for (const m of await loaded.lease(inbox(i), 1000, 1000)) {
        expect(m.body.length).toBe(64 * 1024);
        expect(m.binary).toBe(true);
        seen.add(Buffer.from(m.body).readUInt32BE(0));
      }
    }
    expect(seen.size).toBe(count);
    await loaded.close();
  }, 120_000);

  it('keeps what it read before an unreadable line, and moves the file aside', async () => {
    const file = tempFile();
    const now = Date.now();
    const good = {
      m: {
        inbox: inbox(1),
        id: '5',
        t: now,
        expiresAt: now + 60_000,
        binary: false,
        body: Buffer.from('kept').toString('base64'),
      },
    };
    writeFileSync(
      file,
      [
        JSON.stringify({ format: 'npchat-relay-queue', version: 2, savedAt: now }),
        JSON.stringify(good),
        '{"m":{"id":"broken',
      ].join('\n'),
    );
    const store = new MemoryStore({ cleanPeriodMs: 60_000 });
    expect(await loadQueue(file, store, logger)).toBe(1);
    const [m] = await store.lease(inbox(1), 10, 1000);
    expect(Buffer.from(m!.body).toString()).toBe('kept');
    expect(() => statSync(file)).toThrow();
    await store.close();
  });

  it('no file: nothing loaded, nothing reported', async () => {
    const store = new MemoryStore({ cleanPeriodMs: 60_000 });
    expect(await loadQueue(join(tmpdir(), 'npchat-no-such-file.jsonl'), store, logger)).toBe(0);
    await store.close();
  });
});
