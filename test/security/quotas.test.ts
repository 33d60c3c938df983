/**
 * Quotas: per inbox (messages and bytes, 507 inbox_full, atomic with the
 * append) on both engines; the memory store's bound (503 with Retry-After,
 * the relay keeps delivering); and the relay's RSS under a flood of 64 KiB
 * messages to many inboxes, against the bound the README states.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/client/keys.js';
import { bothEngines } from '../helpers/engines.js';
import { startRelay } from '../helpers/relay.js';
import { authedSocket, postText } from '../helpers/socket.js';
import { spawnRelay } from '../helpers/spawn.js';

const engines = bothEngines();

for (const [name, engine] of engines) {
  describe(`inbox quota on ${name}`, () => {
    it('507 inbox_full past inboxMaxMessages, even for concurrent posts; reading frees room', async () => {
      const t = await startRelay({ ...engine(), inboxMaxMessages: 5 });
      try {
        const keys = generateKeys();
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => postText(t.url, keys.id, `m${i}`)),
        );
        expect(results.filter((r) => r.status === 200)).toHaveLength(5);
        for (const r of results.filter((r) => r.status !== 200)) {
          expect(r.status).toBe(507);
          expect(r.json).toMatchObject({ error: 'inbox_full' });
          expect(String(r.json.message)).toMatch(/quota/);
        }
        // Other inboxes are not affected.
        expect((await postText(t.url, generateKeys().id, 'other')).status).toBe(200);
        const s = await authedSocket(t.wsUrl, keys);
        for (let i = 0; i < 5; i++) await s.next();
        // Delivered (legacy mode deletes): room again, and live delivery needs none.
        expect((await postText(t.url, keys.id, 'live')).status).toBe(200);
        expect((await s.next()).text).toBe('live');
        s.close();
        await s.closed;
        for (let i = 0; i < 5; i++)
          expect((await postText(t.url, keys.id, `n${i}`)).status).toBe(200);
        expect((await postText(t.url, keys.id, 'over')).status).toBe(507);
      } finally {
        await t.close();
      }
    });

    it('507 when a body would take the inbox over inboxMaxBytes', async () => {
      const t = await startRelay({ ...engine(), maxMessageBytes: 1000, inboxMaxBytes: 2500 });
      try {
        const keys = generateKeys();
        expect((await postText(t.url, keys.id, 'a'.repeat(1000))).status).toBe(200);
        expect((await postText(t.url, keys.id, 'b'.repeat(1000))).status).toBe(200);
        expect((await postText(t.url, keys.id, 'c'.repeat(600))).status).toBe(507);
        expect((await postText(t.url, keys.id, 'd'.repeat(500))).status).toBe(200);
      } finally {
        await t.close();
      }
    });
  });
}

describe('memory store bound', () => {
  it('503 with Retry-After when the store is full; owners keep receiving, which frees room', async () => {
    const t = await startRelay({
      maxMessageBytes: 64 * 1024,
      inboxMaxBytes: 64 * 1024,
      storeMaxBytes: 1024 * 1024,
      cleanPeriod: 7,
    });
    try {
      const owners = Array.from({ length: 40 }, () => generateKeys());
      const body = 'x'.repeat(60 * 1024);
      const statuses: number[] = [];
      let full: Awaited<ReturnType<typeof postText>> | undefined;
      for (const o of owners) {
        const r = await postText(t.url, o.id, body);
        statuses.push(r.status);
        if (r.status === 503) full ??= r;
      }
      const stored = statuses.filter((s) => s === 200).length;
      expect(stored).toBeGreaterThanOrEqual(14); // 1 MiB / (60 KiB + overhead) = 16
      expect(stored).toBeLessThanOrEqual(17);
      expect(full?.json).toMatchObject({ error: 'unavailable' });
      expect(full?.headers.get('retry-after')).toBe('7');
      // The relay keeps delivering what it holds; that makes room.
      const s = await authedSocket(t.wsUrl, owners[0]!);
      expect((await s.next()).text).toBe(body);
      expect((await postText(t.url, owners[39]!.id, body)).status).toBe(200);
      s.close();
    } finally {
      await t.close();
    }
  });
});

/** RSS of a process in MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

describe('flood', () => {
  // The README's bound: RSS stays under the idle RSS + storeMaxBytes + 64 MiB.
  const STORE_MIB = 64;
  const SLACK_MIB = 64;

  it(`64 KiB messages to many inboxes: RSS stays under idle + storeMaxBytes + ${SLACK_MIB} MiB`, async () => {
    const relay = await spawnRelay(['--storemaxbytes', String(STORE_MIB << 20)]);
    const pid = relay.child.proc.pid!;
    let sampler: NodeJS.Timeout | undefined;
    try {
      const body = Buffer.alloc(64 * 1024, 0x62).toString();
      const warm = generateKeys().id;
      for (let i = 0; i < 20; i++) await postText(relay.url, warm, body.slice(0, 100));
      const idle = rssMiB(pid);
      let peak = idle;
      sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
      const inboxes = Array.from({ length: 500 }, () => generateKeys().id);
      const counts = { ok: 0, full: 0, other: 0 };
      let next = 0;
      const TOTAL = 2500; // 160 MiB offered, 2.5 times the bound
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < TOTAL) {
            const id = inboxes[next++ % inboxes.length]!;
            const r = await fetch(`${relay.url}/${id}`, { method: 'POST', body });
            await r.arrayBuffer();
            if (r.status === 200) counts.ok++;
            else if (r.status === 503) counts.full++;
            else counts.other++;
          }
        }),
      );
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(pid));
      console.log(
        `flood: ${counts.ok} stored, ${counts.full} refused (503); RSS idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, growth ${(peak - idle).toFixed(0)} MiB (store bound ${STORE_MIB} MiB)`,
      );
      expect(counts.other).toBe(0);
      expect(counts.full).toBeGreaterThan(1000);
      expect(counts.ok * 64).toBeLessThanOrEqual(STORE_MIB * 1024);
      expect(peak - idle).toBeLessThan(STORE_MIB + SLACK_MIB);
      expect((await fetch(`${relay.url}/health`)).status).toBe(200);
    } finally {
      clearInterval(sampler);
      relay.child.proc.kill('SIGTERM');
      await relay.child.exited;
    }
  }, 60_000);
});

describe('a body in tiny pieces', () => {
  /** Sends a chunked POST of `size` bytes in pieces of `piece` bytes; the status line. */
  function chunkedPost(port: number, id: string, size: number, piece: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {}); // the relay may close while we still write
      socket.on('close', () => reject(new Error('closed without an answer')));
      socket.on('data', (d: Buffer) => {
        resolve(d.toString().split('\r\n')[0]!);
        socket.destroy();
      });
      socket.write(
        `POST /${id} HTTP/1.1\r\nHost: relay\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const one = `${piece.toString(16)}\r\n${'x'.repeat(piece)}\r\n`;
      const perWrite = Math.max(1, Math.floor(65536 / one.length));
      let left = size / piece; // pieces still to send (size is a multiple of piece)
      const pump = (): void => {
        while (left > 0 && !socket.destroyed) {
          const n = Math.min(perWrite, left);
          left -= n;
          if (!socket.write(one.repeat(n))) {
            socket.once('drain', pump);
            return;
          }
        }
        if (!socket.destroyed) socket.write('0\r\n\r\n');
      };
      pump();
    });
  }

  it('1-byte chunks are refused early (400); 1 MiB in 128-byte chunks costs about its size', async () => {
    const relay = await spawnRelay();
    const pid = relay.child.proc.pid!;
    let sampler: NodeJS.Timeout | undefined;
    try {
      const keys = generateKeys();
      await postText(relay.url, generateKeys().id, 'warm');
      const idle = rssMiB(pid);
      let peak = idle;
      sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
      // One byte per chunk: 6 bytes on the wire for each byte of body, ~1 µs
      // of the relay's CPU and, kept as they came, ~100 bytes of memory each.
      const SIZE = 1024 * 1024;
      expect(await chunkedPost(relay.port, keys.id, SIZE, 1)).toBe('HTTP/1.1 400 Bad Request');
      // 128-byte chunks (twice the least average allowed): accepted, gathered.
      expect(await chunkedPost(relay.port, keys.id, SIZE, 128)).toBe('HTTP/1.1 200 OK');
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(pid));
      console.log(`chunked bodies: RSS idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB`);
      expect(peak - idle).toBeLessThan(64);
      // Stored whole, and the relay serves on.
      const s = await authedSocket(relay.url.replace('http', 'ws'), keys);
      expect((await s.next()).text).toBe('x'.repeat(SIZE));
      s.close();
      expect((await postText(relay.url, keys.id, 'after')).status).toBe(200);
    } finally {
      clearInterval(sampler);
      relay.child.proc.kill('SIGTERM');
      await relay.child.exited;
    }
  }, 60_000);
});
