/**
 * Routes every HTTP request (PROTOCOL.md §2, §5): ops endpoints, POST /{id},
 * CORS preflight, and the catalog's answers for everything else. Errors
 * become catalog answers in one place; nothing a client sends can throw out
 * of it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInboxId } from '../auth/ids.js';
import { RelayError, toRelayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { handlePost, type IngressDeps } from './ingress.js';
import { handleOps, OPS_PATHS, type OpsDeps } from './ops.js';
import { PREFLIGHT_HEADERS, sendError } from './respond.js';

export type RouterDeps = IngressDeps & OpsDeps & { logger: Logger };

/** Shared by every request without a query string (never modified). */
const NO_QUERY: URLSearchParams = new URLSearchParams();

/**
 * Splits a request target into path and query without `new URL` (which
 * throws on targets like `//[` or `//x:99999`). An absolute-form target
 * (`http://host/path`, RFC 9112 §3.2.2) counts by its path.
 */
export function parseTarget(target: string | undefined): { path: string; query: URLSearchParams } {
  let raw = target ?? '/';
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(raw);
  if (origin) raw = raw.slice(origin[0].length) || '/';
  const q = raw.indexOf('?');
  if (q < 0) return { path: raw, query: NO_QUERY };
  return { path: raw.slice(0, q), query: new URLSearchParams(raw.slice(q + 1)) };
}

/** Catalog errors that are the client's doing: logged at debug, never as relay failures. */
export function logFailure(log: Logger, err: unknown, relayErr: RelayError, what: string): void {
  if (relayErr.code === 'internal') log.error({ err }, `${what} failed`);
  else log.debug({ code: relayErr.code }, `${what} refused`);
}

export type Route =
  | { kind: 'ops'; name: string }
  | { kind: 'inbox'; inbox: string }
  | { kind: 'error'; error: RelayError };

/** Classifies a request path; shared by the HTTP router and the upgrade handler. */
export function route(pathname: string): Route {
  if (!pathname.startsWith('/')) return { kind: 'error', error: new RelayError('not_found') };
  const segments = pathname.split('/').slice(1);
  const first = segments[0] ?? '';
  if (segments.length === 1 && OPS_PATHS.has(first)) return { kind: 'ops', name: first };
  if (first === '') return { kind: 'error', error: new RelayError('not_found') };
  if (!isInboxId(first)) return { kind: 'error', error: new RelayError('invalid_id') };
  if (segments.length > 1) return { kind: 'error', error: new RelayError('not_found') };
  return { kind: 'inbox', inbox: first };
}

/** POST /{id}, counted and timed by result. */
async function countedPost(
  req: IncomingMessage,
  res: ServerResponse,
  inbox: string,
  query: URLSearchParams,
  address: string,
  deps: RouterDeps,
): Promise<void> {
  const started = process.hrtime.bigint();
  let code = 'sent';
  try {
    await handlePost(req, res, inbox, query, address, deps);
  } catch (err) {
    code = toRelayError(err).code;
    throw err;
  } finally {
    deps.metrics.posts.inc({ code });
    deps.metrics.postSeconds.observe({ code }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

function notAllowed(allow: string): RelayError {
  return new RelayError('method_not_allowed', undefined, { Allow: allow });
}

export function createRouter(deps: RouterDeps) {
  const log = deps.logger.child({ component: 'http' });
  return async (req: IncomingMessage, res: ServerResponse, address: string): Promise<void> => {
    try {
      const { path, query } = parseTarget(req.url);
      const r = route(path);
      const method = req.method ?? 'GET';
      if (r.kind === 'error') throw r.error;
      if (method === 'OPTIONS') {
        res.writeHead(204, PREFLIGHT_HEADERS).end();
        return;
      }
      if (r.kind === 'ops') {
        if (method !== 'GET' && method !== 'HEAD') throw notAllowed('GET, HEAD, OPTIONS');
        return await handleOps(r.name, res, deps);
      }
      if (method === 'POST') return await countedPost(req, res, r.inbox, query, address, deps);
      if (method === 'GET') throw new RelayError('upgrade_required');
      throw notAllowed('GET, POST, OPTIONS');
    } catch (err) {
      const relayErr = toRelayError(err);
      logFailure(log, err, relayErr, 'request');
      // A body we stopped reading: close the connection after the answer.
      if (relayErr.code === 'too_large' || relayErr.code === 'request_timeout') {
        if (!res.headersSent) res.setHeader('Connection', 'close');
      }
      sendError(res, relayErr);
    }
  };
}
