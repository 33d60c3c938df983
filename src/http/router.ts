/**
 * Routes every HTTP request through the route table (routes.ts, api.ts):
 * owner token, rate limit and JSON body as the route declares, then its
 * handler; the CORS preflight, 404/400 and 405 with Allow from the same
 * table. Errors become catalog answers in one place; nothing a client sends
 * can throw out of it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInboxId } from '../auth/ids.js';
import { RelayError, toRelayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ApiDeps } from './api.js';
import { readBody } from './body.js';
import { OPS_PATHS } from './ops.js';
import { authorize } from './owner.js';
import { preflightHeaders, sendError } from './respond.js';
import type { RequestContext, Route, RouteTable } from './routes.js';

export type RouterDeps = ApiDeps & { logger: Logger };

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

/**
 * The inbox of a WebSocket upgrade's path: only GET /{id} upgrades (the same
 * table decides); any other path gets the answer a plain request would.
 */
export function upgradeInbox(table: RouteTable, path: string): string {
  const found = table.find('GET', path);
  if (found?.route.path === '/:id') return found.params.id!;
  throw unmatched(path);
}

function notAllowed(allow: string): RelayError {
  return new RelayError('method_not_allowed', undefined, { Allow: allow });
}

/**
 * First segments the relay keeps for itself (also when their route is off,
 * like /metrics): a miss under them is 404, not an invalid inbox id.
 */
const STATIC = new Set([...OPS_PATHS, 'docs', 'openapi.json']);

/** The answer for a path no route matches: 404, or 400 invalid_id if it names no inbox. */
function unmatched(path: string): RelayError {
  const first = path.split('/')[1] ?? '';
  if (!path.startsWith('/') || first === '' || STATIC.has(first) || isInboxId(first)) {
    return new RelayError('not_found');
  }
  return new RelayError('invalid_id');
}

/** Reads and parses a JSON body of at most `limit` bytes. */
async function readJson(req: IncomingMessage, limit: number, minRate: number): Promise<unknown> {
  const body = await readBody(req, limit, minRate);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new RelayError('invalid_body', 'The body is not valid JSON.');
  }
}

/** Shared by every request answered without waiting for anything. */
const DONE: Promise<void> = Promise.resolve();

export function createRouter(deps: RouterDeps, table: RouteTable) {
  const log = deps.logger.child({ component: 'http' });

  /**
   * Any error becomes its catalog answer (with its headers: a refusal that
   * left the body unread carries Connection: close, see body.ts).
   */
  const fail = (res: ServerResponse, err: unknown): void => {
    const relayErr = toRelayError(err);
    logFailure(log, err, relayErr, 'request');
    sendError(res, relayErr);
  };

  /** A route that needs an owner token, a rate limit or a JSON body first. */
  const prepared = async (route: Route, ctx: RequestContext): Promise<void> => {
    const { req, inbox, address } = ctx;
    if (route.access === 'owner') await authorize(req, inbox, deps.owner);
    if (route.limit === 'challenge') await deps.limits.challenge(address);
    else if (route.limit === 'prekeys') await deps.limits.prekeys(address, inbox);
    else if (route.limit === 'fetch') await deps.limits.fetch(inbox);
    if (route.body === 'json') {
      ctx.body = await readJson(req, route.bodyLimit ?? 4096, deps.bodyMinRate);
    }
    await route.handler(ctx);
  };

  return (req: IncomingMessage, res: ServerResponse, address: string): Promise<void> => {
    let handled: Promise<void>;
    try {
      const { path, query } = parseTarget(req.url);
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        const allowed = table.allowed(path);
        if (allowed.length === 0) throw unmatched(path);
        res.writeHead(204, preflightHeaders([...allowed, 'OPTIONS'])).end();
        return DONE;
      }
      const found = table.find(method, path);
      if (!found) {
        const allowed = table.allowed(path);
        if (allowed.length > 0) throw notAllowed([...allowed, 'OPTIONS'].join(', '));
        throw unmatched(path);
      }
      const { route, params } = found;
      const ctx: RequestContext = {
        req,
        res,
        inbox: params.id ?? '',
        query,
        address,
        body: undefined,
      };
      // Most requests (every POST /{id}) need nothing first: no extra async step for them.
      const plain = route.access === 'anyone' && route.limit === undefined && route.body !== 'json';
      handled = plain ? route.handler(ctx) : prepared(route, ctx);
    } catch (err) {
      fail(res, err);
      return DONE;
    }
    return handled.catch((err: unknown) => fail(res, err));
  };
}
