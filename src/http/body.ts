/**
 * Reads a request body up to a limit without ever buffering more: a
 * Content-Length over the limit is refused before reading, and a streamed body
 * is refused as soon as it passes the limit. A body that arrives slower than
 * `minRate` bytes per second (averaged, after BODY_GRACE_MS) is refused with
 * 408 request_timeout, so a trickling client cannot hold a connection.
 *
 * One watchdog timer checks every body being read (not one timer per
 * request): most bodies arrive with their headers and are done before it
 * ever looks at them.
 */
import type { IncomingMessage } from 'node:http';
import { ownsItsMemory } from '../buffers.js';
import { RelayError } from '../errors.js';

/** Time every body gets before the minimum rate applies. */
export const BODY_GRACE_MS = 5000;
const RATE_CHECK_MS = 1000;

/**
 * On every refusal that leaves the body unread (too large, too slow, in too
 * many pieces): the connection cannot carry another request after the answer.
 */
const UNREAD: Record<string, string> = Object.freeze({ Connection: 'close' });

/**
 * Chunks a body keeps as they come. Past this many, the body so far goes
 * into one buffer that doubles as it fills: a body sent a byte at a time
 * (tiny TCP segments, or 1-byte chunks of chunked encoding: 6 bytes on the
 * wire each) would otherwise keep a Buffer object of ~100 bytes per byte
 * (measured: one 1 MiB body sent so took the relay's RSS up ~400 MiB).
 */
export const MAX_CHUNKS = 64;
/** The gathering buffer's first size (it never passes the body limit). */
const GATHER_MIN = 16 * 1024;
/**
 * Past MAX_CHUNKS chunks, the least a chunk may bring on average. Each chunk
 * costs ~1 µs however small: a 1 MiB body in 1-byte chunks cost the relay
 * about a second of CPU for 6 MiB on the wire; at 64 bytes on average a
 * MiB costs at most ~16 ms. TCP segments (536 bytes and up) and the chunks
 * real clients write are far above it.
 */
export const MIN_AVERAGE_CHUNK = 64;

class BodyReader {
  private chunks: Buffer[] = [];
  private pieces = 0;
  /** After MAX_CHUNKS chunks: the body so far, with room to grow (chunks is then empty). */
  private gathered: Buffer | null = null;
  private size = 0;
  private readonly started = Date.now();

  constructor(
    private readonly req: IncomingMessage,
    private readonly limit: number,
    private readonly minRate: number,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (err: RelayError) => void,
    private readonly own: boolean,
  ) {
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
    req.on('aborted', this.onError);
  }

  private finish(): void {
    readers.delete(this);
    const req = this.req;
    req.off('data', this.onData);
    req.off('end', this.onEnd);
    req.off('error', this.onError);
    req.off('aborted', this.onError);
  }

  private fail(err: RelayError): void {
    this.finish();
    this.req.pause();
    this.reject(err);
  }

  private readonly onData = (chunk: Buffer): void => {
    const at = this.size;
    this.size += chunk.length;
    if (this.size > this.limit) return this.fail(tooLarge(this.limit));
    if (++this.pieces > MAX_CHUNKS && this.pieces * MIN_AVERAGE_CHUNK > this.size) {
      return this.fail(
        new RelayError(
          'bad_request',
          `The body came in too many small pieces (past ${MAX_CHUNKS}, at least ${MIN_AVERAGE_CHUNK} bytes each on average).`,
          UNREAD,
        ),
      );
    }
    let gathered = this.gathered;
    if (gathered === null) {
      this.chunks.push(chunk);
      if (this.chunks.length < MAX_CHUNKS) return;
      this.gathered = gathered = Buffer.allocUnsafeSlow(this.room());
      joinInto(gathered, this.chunks);
      this.chunks = [];
      return;
    }
    if (this.size > gathered.length) {
      const larger = Buffer.allocUnsafeSlow(this.room());
      larger.set(gathered.subarray(0, at));
      this.gathered = gathered = larger;
    }
    gathered.set(chunk, at);
  };

  /** The gathering buffer's next size: twice the body so far, at most the limit. */
  private room(): number {
    return Math.min(this.limit, Math.max(2 * this.size, GATHER_MIN));
  }

  private readonly onEnd = (): void => {
    this.finish();
    // A gathered body is copied once more, to a buffer of its exact size.
    const chunks = this.gathered ? [this.gathered.subarray(0, this.size)] : this.chunks;
    // A body that came in one chunk is kept as it is: node:http copies each
    // body chunk out of the socket's read, so it is on memory of its own.
    const only = this.gathered === null && chunks.length === 1 ? chunks[0]! : null;
    if (only !== null && (!this.own || ownsItsMemory(only))) return this.resolve(only);
    this.resolve(this.own ? ownCopy(chunks, this.size) : Buffer.concat(chunks, this.size));
  };

  // The client went away mid-body: a client mistake, not a relay failure.
  private readonly onError = (): void => {
    this.finish();
    this.reject(new RelayError('bad_request', 'The request body was cut off.'));
  };

  /** Called by the watchdog: refuses the body if it is behind the minimum rate. */
  check(now: number): void {
    const late = now - this.started - BODY_GRACE_MS;
    if (late > 0 && this.size < (late / 1000) * this.minRate) {
      this.fail(
        new RelayError(
          'request_timeout',
          `The body arrived slower than ${this.minRate} bytes per second.`,
          UNREAD,
        ),
      );
    }
  }
}

/** Bodies being read with a minimum rate; the watchdog runs only while there are any. */
const readers = new Set<BodyReader>();
let watchdog: NodeJS.Timeout | undefined;

function watch(reader: BodyReader): void {
  readers.add(reader);
  if (watchdog) return;
  watchdog = setInterval(() => {
    const now = Date.now();
    for (const r of readers) r.check(now);
    if (readers.size === 0) {
      clearInterval(watchdog);
      watchdog = undefined;
    }
  }, RATE_CHECK_MS);
  watchdog.unref();
}

function tooLarge(limit: number): RelayError {
  return new RelayError(
    'too_large',
    `The message is larger than ${limit} bytes, the most this relay accepts.`,
    UNREAD,
  );
}

/** Copies the chunks, one after the other, to the start of `into`. */
function joinInto(into: Buffer, chunks: readonly Buffer[]): void {
  let at = 0;
  for (const chunk of chunks) {
    into.set(chunk, at);
    at += chunk.length;
  }
}

/** The chunks copied into one buffer on memory of its own (not a slice of a shared slab). */
function ownCopy(chunks: readonly Buffer[], size: number): Buffer {
  const body = Buffer.allocUnsafeSlow(size);
  joinInto(body, chunks);
  return body;
}

/**
 * The body of `req`, refused past `limit` bytes or below `minRate`. With
 * `own`, the body is on memory of its own, sized to it, rather than a slice
 * of one of Node's shared 8 KiB slabs. A body that came in one chunk on
 * memory of its own (as node:http hands them over) is that chunk, uncopied.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  minRate = 0,
  own = false,
): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    // Stream events never fire synchronously, so the reader is watched before it can finish.
    const reader = new BodyReader(req, limit, minRate, resolve, reject, own);
    if (minRate > 0) watch(reader);
  });
}
