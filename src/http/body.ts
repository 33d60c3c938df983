/**
 * Reads a request body up to a limit without ever buffering more: a
 * Content-Length over the limit is refused before reading, and a streamed body
 * is refused as soon as it passes the limit. A body that arrives slower than
 * `minRate` bytes per second (averaged, after BODY_GRACE_MS) is refused with
 * 408 request_timeout, so a trickling client cannot hold a connection.
 */
import type { IncomingMessage } from 'node:http';
import { RelayError } from '../errors.js';

/** Time every body gets before the minimum rate applies. */
export const BODY_GRACE_MS = 5000;
const RATE_CHECK_MS = 1000;

export function readBody(req: IncomingMessage, limit: number, minRate = 0): Promise<Buffer> {
  const tooLarge = () =>
    new RelayError(
      'too_large',
      `The message is larger than ${limit} bytes, the most this relay accepts.`,
    );
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const started = Date.now();
    const timer =
      minRate > 0
        ? setInterval(() => {
            const late = Date.now() - started - BODY_GRACE_MS;
            if (late > 0 && size < (late / 1000) * minRate) {
              cleanup();
              req.pause();
              reject(
                new RelayError(
                  'request_timeout',
                  `The body arrived slower than ${minRate} bytes per second.`,
                ),
              );
            }
          }, RATE_CHECK_MS)
        : undefined;
    const cleanup = () => {
      clearInterval(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    // The client went away mid-body: a client mistake, not a relay failure.
    const onError = () => {
      cleanup();
      reject(new RelayError('bad_request', 'The request body was cut off.'));
    };
    const onAborted = onError;
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
