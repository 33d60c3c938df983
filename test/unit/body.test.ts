/** The body reader: one buffer of the body's bytes, on memory of its own when asked. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_CHUNKS, MIN_AVERAGE_CHUNK, readBody } from '../../src/http/body.js';
import { RelayError } from '../../src/errors.js';

/** A request whose body arrives in these chunks. */
function request(chunks: string[], headers: Record<string, string> = {}): IncomingMessage {
  const req = Readable.from(
    chunks.map((c) => Buffer.from(c)),
    { objectMode: false },
  );
  return Object.assign(req, { headers }) as unknown as IncomingMessage;
}

describe('readBody', () => {
  it('joins the chunks; with `own`, onto a buffer sized to the body', async () => {
    const body = await readBody(request(['hello ', 'wor', 'ld']), 100, 0, true);
    expect(body.toString()).toBe('hello world');
    expect(body.byteOffset).toBe(0);
    expect(body.buffer.byteLength).toBe(11);
    const one = await readBody(request(['x'.repeat(1024)]), 2048, 0, true);
    expect(one.toString()).toBe('x'.repeat(1024));
    expect(one.buffer.byteLength).toBe(1024);
  });

  it('a body in many chunks comes out whole and exact, own or not', async () => {
    // Past MAX_CHUNKS the reader gathers into one growing buffer: sizes that
    // cross its first size and its doublings, and chunks of many lengths
    // (MIN_AVERAGE_CHUNK and more on average).
    const sizes = [1, 2, 3, 500, 700, 1000];
    const pieces: string[] = [];
    for (let i = 0, total = 0; total < 200_000; i++) {
      const n = sizes[i % sizes.length]!;
      pieces.push(String.fromCharCode(97 + (i % 26)).repeat(n));
      total += n;
    }
    expect(pieces.length).toBeGreaterThan(MAX_CHUNKS);
    for (const own of [false, true]) {
      for (const count of [MAX_CHUNKS - 1, MAX_CHUNKS, MAX_CHUNKS + 1, pieces.length]) {
        const want = pieces.slice(0, count).join('');
        const body = await readBody(request(pieces.slice(0, count)), 1_000_000, 0, own);
        expect(body.toString()).toBe(want);
        expect(body.length).toBe(want.length);
        if (own) expect(body.buffer.byteLength).toBe(want.length);
      }
    }
    // Up to the limit exactly, then one byte past it.
    const exact = Array.from({ length: 100 }, () => 'z'.repeat(300));
    expect((await readBody(request(exact), 30_000)).toString()).toBe('z'.repeat(30_000));
    await expect(readBody(request([...exact, 'z']), 30_000)).rejects.toMatchObject({
      code: 'too_large',
    });
  });

  it(`past ${MAX_CHUNKS} chunks, refuses a body whose chunks average under ${MIN_AVERAGE_CHUNK} bytes`, async () => {
    // MAX_CHUNKS of one byte each are fine (a small body in small pieces).
    const ones = Array.from({ length: MAX_CHUNKS }, () => 'z');
    expect((await readBody(request(ones), 100_000)).toString()).toBe('z'.repeat(MAX_CHUNKS));
    // One more piece, and the average is far under: refused, and the
    // connection is to close (the rest of the body is never read).
    const err: unknown = await readBody(request([...ones, 'z']), 100_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RelayError);
    expect(err).toMatchObject({ code: 'bad_request', headers: { Connection: 'close' } });
    expect((err as RelayError).message).toMatch(/too many small pieces/);
    // Big pieces first buy room for small ones, as long as the average holds.
    const big = 'b'.repeat(MIN_AVERAGE_CHUNK * 200);
    const mixed = [big, ...Array.from({ length: 150 }, () => 'z')];
    expect((await readBody(request(mixed), 100_000)).length).toBe(big.length + 150);
  });

  it('a body in one chunk on memory of its own is that chunk, not a copy, own or not', async () => {
    // As node:http hands a body chunk over: a buffer that is all of its memory.
    for (const own of [false, true]) {
      const chunk = Buffer.allocUnsafeSlow(1024).fill(7);
      const req = Object.assign(Readable.from([chunk]), { headers: {} });
      const body = await readBody(req as unknown as IncomingMessage, 2048, 0, own);
      expect(body).toBe(chunk);
    }
    // A slice of a larger buffer is copied when the body is to be kept.
    const slab = Buffer.alloc(4096, 1);
    const req = Object.assign(Readable.from([slab.subarray(100, 1124)]), { headers: {} });
    const kept = await readBody(req as unknown as IncomingMessage, 2048, 0, true);
    expect(kept.buffer.byteLength).toBe(1024);
    expect(kept.equals(slab.subarray(100, 1124))).toBe(true);
  });

  it('without `own`, a small body is a slice of a shared slab', async () => {
    const body = await readBody(request(['hello ', 'world']), 100);
    expect(body.toString()).toBe('hello world');
    expect(body.buffer.byteLength).toBeGreaterThan(body.length);
  });

  it('refuses a body past the limit, declared or streamed, own or not', async () => {
    for (const own of [false, true]) {
      await expect(
        readBody(request(['x'], { 'content-length': '11' }), 10, 0, own),
      ).rejects.toMatchObject({ code: 'too_large', headers: { Connection: 'close' } });
      const err: unknown = await readBody(request(['12345', '678901']), 10, 0, own).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RelayError);
      expect((err as RelayError).code).toBe('too_large');
      // Left unread: the connection is to close after the answer.
      expect((err as RelayError).headers).toEqual({ Connection: 'close' });
    }
  });
});
