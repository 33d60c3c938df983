/** Request headers that may appear only once. */
import type { IncomingMessage } from 'node:http';
import { RelayError, type ErrorCode } from '../errors.js';

/**
 * The value of a header that may appear once, or undefined when it is
 * absent; refused with `code` when it appears more than once. node:http
 * joins the repeats of most headers into one value with ", "
 * (`req.headers`), which for a key, a time or a signature would read as one
 * odd value instead of two; the lines as sent are in `req.headersDistinct`
 * (built on first use, so only when the header is there at all). `shown` is
 * the header's name in the refusal.
 */
export function singleHeader(
  req: IncomingMessage,
  name: string,
  code: ErrorCode,
  shown = name,
): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value) || req.headersDistinct[name]!.length > 1) {
    throw new RelayError(code, `The ${shown} header appears more than once.`);
  }
  return value;
}
