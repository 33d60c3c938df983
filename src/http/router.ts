/**
 * Routes every HTTP request (PROTOCOL.md §2, §5): ops endpoints, POST /{id},
 * CORS preflight, and the catalog's answers for everything else. Errors
 * become catalog answers in one place.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInboxId } from '../auth/ids.js';
import { RelayError, toRelayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { handlePost, type IngressDeps } from './ingress.js';
import { handleOps, OPS_PATHS, type OpsDeps } from './ops.js';
import { PREFLIGHT_HEADERS, sendError } from './respond.js';

export type RouterDeps = IngressDeps & OpsDeps & { logger: Logger };

export type Route =
  | { kind: 'ops'; name: string }
  | { kind: 'inbox'; inbox: string }
  | { kind: 'error'; error: RelayError };

/** Classifies a request path; shared by the HTTP router and the upgrade handler. */
export function route(pathname: string): Route {
  const segments = pathname.split('/').slice(1);
  const first = segments[0] ?? '';
  if (segments.length === 1 && OPS_PATHS.has(first)) return { kind: 'ops', name: first };
  if (first === '') return { kind: 'error', error: new RelayError('not_found') };
  if (!isInboxId(first)) return { kind: 'error', error: new RelayError('invalid_id') };
  if (segments.length > 1) return { kind: 'error', error: new RelayError('not_found') };
  return { kind: 'inbox', inbox: first };
}

function notAllowed(allow: string): RelayError {
  return new RelayError('method_not_allowed', undefined, { Allow: allow });
}

export function createRouter(deps: RouterDeps) {
  const log = deps.logger.child({ component: 'http' });
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const url = new URL(req.url ?? '/', 'http://relay');
      const r = route(url.pathname);
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
      if (method === 'POST') return await handlePost(req, res, r.inbox, url, deps);
      if (method === 'GET') throw new RelayError('upgrade_required');
      throw notAllowed('GET, POST, OPTIONS');
    } catch (err) {
      const relayErr = toRelayError(err);
      if (relayErr.code === 'internal') log.error({ err }, 'request failed');
      // A body we stopped reading: close the connection after the answer.
      if (relayErr.code === 'too_large') res.setHeader('Connection', 'close');
      sendError(res, relayErr);
    }
  };
}
