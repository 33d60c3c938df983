/** Request headers that may appear only once. */
import type { IncomingMessage } from 'node:http';

/**
 * The value of a header that may appear once; undefined when it is absent,
 * null when it appears more than once. node:http joins the repeats of most
 * headers into one value with ", " (`req.headers`), which for a key, a time
 * or a signature would read as one odd value instead of two; the lines as
 * sent are in `req.headersDistinct` (built on first use, so only when the
 * header is there at all).
 */
export function singleHeader(req: IncomingMessage, name: string): string | undefined | null {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value) || req.headersDistinct[name]!.length > 1) return null;
  return value;
}
