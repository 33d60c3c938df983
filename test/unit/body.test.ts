/** The body reader: one buffer of the body's bytes, on memory of its own when asked. */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBody } from '../../src/http/body.js';
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
