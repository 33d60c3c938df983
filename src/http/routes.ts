/**
 * The route table: every HTTP endpoint declared once, with its method, path
 * pattern, who may call it, its rate limit, its body and its handler. The
 * router (find-my-way), the 404/405 answers with `Allow`, the CORS preflight
 * and /openapi.json are all derived from this one table, so they cannot
 * drift apart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import { isInboxId } from '../auth/ids.js';
import type { ErrorCode } from '../errors.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A JSON Schema (the subset OpenAPI 3.1 uses), kept as plain data. */
export type Schema = Record<string, unknown>;

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The `{id}` of the path; '' on routes without one. */
  inbox: string;
  query: URLSearchParams;
  /** The client's address key (rate limits; never logged). */
  address: string;
  /** The parsed JSON body, on routes with `body: 'json'`. */
  body: unknown;
}

export interface Route {
  method: Method;
  /** find-my-way pattern; `:id` is the inbox id. */
  path: string;
  /** `owner`: needs `Authorization: Bearer <token>` of a session for `{id}`. */
  access: 'anyone' | 'owner';
  /**
   * `json`: the table reads the body (at most `bodyLimit` bytes) and parses
   * it before the handler; `raw`: the handler reads it; `none`: no body.
   */
  body: 'none' | 'json' | 'raw';
  bodyLimit?: number;
  /** A GET that does not also answer HEAD (the WebSocket path). */
  noHead?: boolean;
  /** Rate limit applied before the handler (see limits.ts); none if absent. */
  limit?: 'challenge' | 'prekeys' | 'fetch';
  /** OpenAPI: a tag, a one-line summary, and what the route answers. */
  tag: string;
  summary: string;
  description?: string;
  query?: { name: string; schema: Schema; description: string }[];
  requestSchema?: Schema;
  /** Content type of the request body when it is not JSON. */
  requestType?: string;
  response: { status: number; description: string; schema?: Schema; type?: string };
  errors: readonly ErrorCode[];
  handler(ctx: RequestContext): Promise<void>;
}

export interface RouteTable {
  readonly routes: readonly Route[];
  /** The route for this method and path, or null. */
  find(method: string, path: string): { route: Route; params: Record<string, string> } | null;
  /** Methods with a route at this path (HEAD included where GET is). */
  allowed(path: string): string[];
}

const METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];

export function routeTable(routes: readonly Route[]): RouteTable {
  const router = FindMyWay({
    caseSensitive: true,
    ignoreTrailingSlash: false,
    maxParamLength: 64,
  });
  for (const route of routes) {
    router.on(route.method, route.path, () => {}, route);
    // HEAD answers like GET (Node sends the headers only).
    if (route.method === 'GET' && !route.noHead) router.on('HEAD', route.path, () => {}, route);
  }
  const find = (method: string, path: string) => {
    // Percent-escapes are never part of a valid path: no route, so no second spelling of an id.
    if (path.includes('%')) return null;
    const found = router.find(method as FindMyWay.HTTPMethod, path);
    if (!found) return null;
    // A segment in the place of `{id}` that is no inbox id matches nothing:
    // /health stays a static path for every method (405, not invalid_id).
    const id = (found.params as Record<string, string | undefined>).id;
    if (id !== undefined && !isInboxId(id)) return null;
    return {
      route: found.store as Route,
      params: found.params as Record<string, string>,
    };
  };
  return {
    routes,
    find,
    allowed: (path) => METHODS.filter((m) => find(m, path) !== null),
  };
}
