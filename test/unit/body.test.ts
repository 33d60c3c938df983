/** The body reader: one buffer of the body's bytes, on memory of its own when asked. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_CHUNKS, readBody } from '../../src/http/body.js';
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

  it('a body in many tiny chunks comes out whole and exact, own or not', async () => {
    // Past MAX_CHUNKS the reader gathers into one growing buffer: sizes that
    // cross its first size and its doublings, and chunks of every length.
    const bytes = Array.from({ length: 70_000 }, (_, i) => String.fromCharCode(97 + (i % 26)));
    const pieces: string[] = [];
    for (let i = 0, n = 1; i < bytes.length; i += n, n = (n % 7) + 1) {
      pieces.push(bytes.slice(i, i + n).join(''));
    }
    expect(pieces.length).toBeGreaterThan(MAX_CHUNKS);
    for (const own of [false, true]) {
      for (const count of [MAX_CHUNKS - 1, MAX_CHUNKS, MAX_CHUNKS + 1, pieces.length]) {
        const want = pieces.slice(0, count).join('');
        const body = await readBody(request(pieces.slice(0, count)), 100_000, 0, own);
        expect(body.toString()).toBe(want);
        expect(body.length).toBe(want.length);
        if (own) expect(body.buffer.byteLength).toBe(want.length);
      }
    }
    // One byte at a time, up to the limit exactly, then one past it.
    const ones = Array.from({ length: 5000 }, () => 'z');
    expect((await readBody(request(ones), 5000)).toString()).toBe('z'.repeat(5000));
    await expect(readBody(request([...ones, 'z']), 5000)).rejects.toMatchObject({
      code: 'too_large',
    });
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
      ).rejects.toMatchObject({ code: 'too_large' });
      const err: unknown = await readBody(request(['12345', '678901']), 10, 0, own).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RelayError);
      expect((err as RelayError).code).toBe('too_large');
    }
  });
});
