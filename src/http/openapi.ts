/**
 * The OpenAPI 3.1 document (PROTOCOL.md §5), generated from the route table
 * (api.ts), so it cannot drift from what the relay serves: every route with
 * its parameters, request body, answer and catalog errors.
 */
import { carriesRetryAfter, CATALOG, type ErrorCode } from '../errors.js';
import type { Route, Schema } from './routes.js';

const ERROR_SCHEMA: Schema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable code: act on this' },
    message: { type: 'string', description: 'a sentence for humans' },
  },
};

/**
 * What reading any request body can answer (body.ts): cut off or in too
 * many small pieces, larger than the route's limit, slower than the minimum rate.
 */
const BODY_ERRORS: readonly ErrorCode[] = ['bad_request', 'too_large', 'request_timeout'];

/** The header of every answer that carriesRetryAfter (errors.ts). */
const RETRY_AFTER = {
  'Retry-After': {
    description: 'seconds to wait before trying again',
    schema: { type: 'integer', minimum: 0 },
  },
};

/** `/:id/keys` -> `/{id}/keys` */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z]+)/g, '{$1}');
}

function errorResponses(codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = CATALOG[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${CATALOG[c].message}`).join(' '),
      content: {
        'application/json': {
          schema: {
            ...ERROR_SCHEMA,
            properties: {
              ...(ERROR_SCHEMA.properties as Schema),
              error: { type: 'string', enum: list },
            },
          },
        },
      },
      ...(carriesRetryAfter(status) ? { headers: RETRY_AFTER } : {}),
    };
  }
  return out;
}

function operation(route: Route): Record<string, unknown> {
  const parameters: unknown[] = [];
  if (route.path.includes(':id')) {
    parameters.push({
      name: 'id',
      in: 'path',
      required: true,
      description: 'inbox id: base64url(SHA-256(owner public key)), 43 characters',
      schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    });
  }
  for (const q of route.query ?? []) {
    parameters.push({ name: q.name, in: 'query', description: q.description, schema: q.schema });
  }
  const op: Record<string, unknown> = {
    tags: [route.tag],
    summary: route.summary,
    operationId: `${route.method.toLowerCase()}${openApiPath(route.path)
      .split('/')
      .map((p) => p.replace(/[{}.]/g, ''))
      .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
      .join('')}`,
    ...(route.description ? { description: route.description } : {}),
    ...(parameters.length ? { parameters } : {}),
    responses: {
      [String(route.response.status)]: {
        description: route.response.description,
        ...(route.response.schema
          ? {
              content: {
                [route.response.type ?? 'application/json']: { schema: route.response.schema },
              },
            }
          : {}),
      },
      ...errorResponses(
        route.body === 'none' ? route.errors : [...new Set([...route.errors, ...BODY_ERRORS])],
      ),
    },
  };
  if (route.access === 'owner') op.security = [{ ownerToken: [] }];
  if (route.body === 'json') {
    op.requestBody = {
      required: true,
      content: { 'application/json': { schema: route.requestSchema ?? {} } },
    };
  } else if (route.body === 'raw') {
    op.requestBody = {
      required: true,
      content: { [route.requestType ?? '*/*']: { schema: { type: 'string', format: 'binary' } } },
    };
  }
  return op;
}

export function openApiDocument(routes: readonly Route[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'npchat-relay',
      version,
      description:
        'A store-and-forward relay for end-to-end-encrypted messengers (npchat protocol, with extensions). Owners receive on a WebSocket at GET /{id} or with the owner HTTP API below. Every error answer is JSON {"error","message"} with a stable code.',
      license: { name: 'see the project repository' },
    },
    tags: [
      { name: 'Messages', description: 'posting, fetching and acknowledging messages' },
      { name: 'Owner session', description: 'challenge login to a bearer token' },
      { name: 'Prekeys', description: 'Signal-style key bundles (X3DH)' },
      { name: 'Owner data', description: 'inbox policy, contact card and private data' },
      { name: 'Operations', description: 'health, readiness, information' },
    ],
    components: {
      securitySchemes: {
        ownerToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'Token from POST /{id}/session. Missing, unknown, revoked or expired: 401 unauthorized; a token of another inbox: 403 forbidden.',
        },
      },
    },
    paths,
  };
}
