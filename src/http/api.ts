/**
 * Every HTTP endpoint of the relay, as one route table (routes.ts): the
 * operations endpoints, POST /{id}, and the owner API. OpenAPI
 * (openapi.ts) is generated from this same list.
 */
import { countedPost, type IngressDeps } from './ingress.js';
import { handleOps, type OpsDeps } from './ops.js';
import {
  ackHandler,
  addPrekeysHandler,
  challengeHandler,
  countKeysHandler,
  DEFAULT_FETCH,
  fetchHandler,
  getBlobHandler,
  getPolicyHandler,
  MAX_FETCH,
  MAX_KEY_CHARS,
  MAX_PREKEYS,
  MAX_PREKEYS_PER_REQUEST,
  MAX_WAIT_S,
  putBlobHandler,
  putKeysHandler,
  putPolicyHandler,
  revokeHandler,
  sessionHandler,
  takeKeysHandler,
  type OwnerApiDeps,
} from './owner.js';
import { DOC_ASSETS, sendDocAsset, sendDocsInit, sendDocsPage } from './docs.js';
import { openApiDocument } from './openapi.js';
import { sendRawJson } from './respond.js';
import type { Route, Schema } from './routes.js';
import { MAX_ACCEPT_FROM } from './signed.js';
import { RelayError } from '../errors.js';

export type ApiDeps = IngressDeps & OpsDeps & OwnerApiDeps;

const str = (description: string, extra: Schema = {}): Schema => ({
  type: 'string',
  description,
  ...extra,
});
const b64 = (description: string): Schema =>
  str(description, { pattern: '^[A-Za-z0-9_-]+$', maxLength: MAX_KEY_CHARS });
const keyIdSchema: Schema = { type: 'integer', minimum: 0, maximum: 4294967295 };
const preKeySchema: Schema = {
  type: 'object',
  required: ['keyId', 'publicKey'],
  properties: { keyId: keyIdSchema, publicKey: b64('one-time prekey, opaque') },
};
const signedPreKeySchema: Schema = {
  type: 'object',
  required: ['keyId', 'publicKey', 'signature'],
  properties: {
    keyId: keyIdSchema,
    publicKey: b64('signed prekey, opaque'),
    signature: b64("the identity key's signature of it, opaque"),
  },
};
const challengeSchema: Schema = {
  type: 'object',
  required: ['txt', 'sig'],
  properties: {
    txt: b64('challenge text: sign these bytes'),
    sig: b64("the relay's signature of the challenge"),
  },
};
export const envelopeSchema: Schema = {
  type: 'object',
  required: ['id', 't', 'data'],
  properties: {
    id: str('message id (decimal digits; increasing per inbox)'),
    t: { type: 'integer', description: 'arrival time, ms since epoch' },
    data: str('the message: text, or base64url when binary'),
    binary: { type: 'boolean', description: 'present and true for binary messages' },
  },
};
const policySchema: Schema = {
  type: 'object',
  required: ['requireSignature', 'acceptFrom'],
  properties: {
    requireSignature: { type: 'boolean' },
    acceptFrom: {
      oneOf: [
        { type: 'array', maxItems: MAX_ACCEPT_FROM, items: str('inbox id of an accepted sender') },
        { type: 'null' },
      ],
    },
  },
};
const anyJson: Schema = { description: 'any JSON value' };
const message = (text: string): Schema => ({
  type: 'object',
  properties: { message: { type: 'string', const: text } },
});

/** The routes of the GET /{id} WebSocket and the ops endpoints need no owner token. */
export function apiRoutes(deps: ApiDeps): Route[] {
  const ops = (name: string, summary: string, schema: Schema, type?: string): Route => ({
    method: 'GET',
    path: `/${name}`,
    access: 'anyone',
    body: 'none',
    tag: 'Operations',
    summary,
    response: { status: 200, description: summary, schema, ...(type ? { type } : {}) },
    errors: name === 'ready' ? ['unavailable'] : [],
    handler: ({ res }) => handleOps(name, res, deps),
  });
  const dataLimit = deps.maxDataBytes;
  const blob = (name: 'shareable' | 'data', readAccess: 'anyone' | 'owner', what: string) =>
    [
      {
        method: 'PUT',
        path: `/:id/${name}`,
        access: 'owner',
        body: 'json',
        bodyLimit: dataLimit,
        tag: 'Owner data',
        summary: `Replace the ${what}`,
        description: `Any JSON value of at most ${dataLimit} bytes (NPCHAT_MAX_DATA_BYTES).`,
        requestSchema: anyJson,
        response: { status: 200, description: 'saved', schema: message('saved') },
        errors: ['unauthorized', 'forbidden', 'invalid_body', 'too_large', 'unavailable'],
        handler: putBlobHandler(deps, name),
      },
      {
        method: 'GET',
        path: `/:id/${name}`,
        access: readAccess,
        body: 'none',
        tag: 'Owner data',
        summary: `Read the ${what}`,
        response: { status: 200, description: `the ${what} as saved`, schema: anyJson },
        errors: [
          'not_found',
          ...(readAccess === 'owner' ? (['unauthorized', 'forbidden'] as const) : []),
        ],
        handler: getBlobHandler(deps, name),
      },
    ] satisfies Route[];

  const routes: Route[] = [
    ops('health', 'Liveness', { type: 'object', properties: { status: { const: 'ok' } } }),
    ops('ready', 'Readiness: 200 when the store answers', {
      type: 'object',
      properties: { status: { const: 'ready' } },
    }),
    ops('info', 'Relay version, clock and limits', {
      type: 'object',
      properties: {
        status: { type: 'string' },
        version: { type: 'string' },
        startTime: { type: 'integer' },
        time: { type: 'integer' },
        msgTtl: { type: 'integer' },
        maxMessageBytes: { type: 'integer' },
        store: { type: 'string' },
      },
    }),
    ops('ping', 'Answers pong', { type: 'string', const: 'pong' }, 'text/plain'),
    ...(deps.serveMetrics
      ? [ops('metrics', 'Prometheus metrics', { type: 'string' }, 'text/plain')]
      : []),
    {
      method: 'POST',
      path: '/:id',
      access: 'anyone',
      body: 'raw',
      tag: 'Messages',
      summary: 'Post a message to an inbox',
      description:
        'The body is the message, opaque to the relay (UTF-8 text, or binary with Content-Type: application/octet-stream). Headers: TTL (seconds), Idempotency-Key; for a signed post Npchat-From (sender public key), Npchat-Time (ms) and Npchat-Signature (over "npchat-post\\n{id}\\n{time}\\n{b64url(SHA-256(body))}"). The answer is the same whether the owner is online, offline or unknown.',
      requestType: '*/*',
      query: [
        {
          name: 'store',
          schema: { type: 'string', enum: ['false'] },
          description: 'false: deliver only to live sockets; never store',
        },
      ],
      response: {
        status: 200,
        description: 'handed to a live socket of the owner, or stored',
        schema: {
          type: 'object',
          properties: {
            message: { const: 'sent' },
            id: { type: 'string' },
            t: { type: 'integer' },
          },
        },
      },
      errors: [
        'invalid_id',
        'invalid_body',
        'invalid_ttl',
        'invalid_idempotency_key',
        'too_large',
        'bad_signature',
        'stale_signature',
        'refused',
        'replayed',
        'rate_limited',
        'inbox_full',
        'unavailable',
      ],
      handler: (ctx) => countedPost(ctx.req, ctx.res, ctx.inbox, ctx.query, ctx.address, deps),
    },
    {
      method: 'GET',
      path: '/:id',
      access: 'anyone',
      body: 'none',
      tag: 'Messages',
      noHead: true,
      summary: 'Open the owner WebSocket (upgrade only)',
      description:
        'With Upgrade: websocket, opens the owner session (handshake, then delivery; see the protocol). Without it: 400 upgrade_required.',
      response: { status: 101, description: 'switching to the WebSocket protocol' },
      errors: ['upgrade_required', 'invalid_id'],
      handler: async () => {
        throw new RelayError('upgrade_required');
      },
    },
    {
      method: 'GET',
      path: '/:id/challenge',
      access: 'anyone',
      body: 'none',
      limit: 'challenge',
      tag: 'Owner session',
      summary: 'A challenge to sign, for POST /{id}/session',
      response: {
        status: 200,
        description: 'sign challenge.txt with the inbox key',
        schema: { type: 'object', properties: { challenge: challengeSchema } },
      },
      errors: ['invalid_id', 'rate_limited'],
      handler: challengeHandler(deps),
    },
    {
      method: 'POST',
      path: '/:id/session',
      access: 'anyone',
      body: 'json',
      bodyLimit: 4096,
      tag: 'Owner session',
      summary: 'Trade a signed challenge for a session token',
      description:
        'The challenge is single-use across every relay of the deployment. Failed attempts count against the per-address limit. The token goes in Authorization: Bearer <token>.',
      requestSchema: {
        type: 'object',
        required: ['publicKey', 'challenge', 'solution'],
        properties: {
          publicKey: b64('the inbox public key (its SHA-256 is the inbox id)'),
          challenge: challengeSchema,
          solution: b64('ECDSA P-256/SHA-256 signature of the challenge text'),
        },
      },
      response: {
        status: 200,
        description: 'a session token',
        schema: {
          type: 'object',
          properties: {
            token: str('opaque bearer token'),
            expiresAt: { type: 'integer', description: 'ms since epoch' },
          },
        },
      },
      errors: ['invalid_id', 'invalid_body', 'unauthorized', 'rate_limited', 'unavailable'],
      handler: sessionHandler(deps),
    },
    {
      method: 'DELETE',
      path: '/:id/session',
      access: 'owner',
      body: 'none',
      tag: 'Owner session',
      summary: 'Revoke the session token sent',
      response: { status: 200, description: 'revoked', schema: message('revoked') },
      errors: ['unauthorized', 'forbidden', 'unavailable'],
      handler: revokeHandler(deps),
    },
    {
      method: 'GET',
      path: '/:id/messages',
      access: 'owner',
      body: 'none',
      // Each fetch leases (a Redis script): an owner's fetches count per inbox.
      limit: 'fetch',
      tag: 'Messages',
      summary: 'Fetch stored messages (long-poll with wait)',
      description: `Returns up to limit messages not yet acknowledged and not handed to another fetch or socket in the last lease period; they stay stored until POST /{id}/ack. With wait, answers as soon as one exists or after wait seconds (at most ${MAX_WAIT_S}). A client that goes away before the answer leaves them for the next fetch.`,
      query: [
        {
          name: 'wait',
          schema: { type: 'integer', minimum: 0, maximum: MAX_WAIT_S, default: 0 },
          description: 'seconds to wait for a message',
        },
        {
          name: 'limit',
          schema: { type: 'integer', minimum: 1, maximum: MAX_FETCH, default: DEFAULT_FETCH },
          description: 'most messages returned',
        },
      ],
      response: {
        status: 200,
        description: 'messages, oldest first',
        schema: {
          type: 'object',
          properties: { messages: { type: 'array', items: envelopeSchema } },
        },
      },
      errors: [
        'unauthorized',
        'forbidden',
        'bad_request',
        'rate_limited',
        'too_many_sockets',
        'unavailable',
      ],
      handler: fetchHandler(deps),
    },
    {
      method: 'POST',
      path: '/:id/ack',
      access: 'owner',
      body: 'json',
      bodyLimit: 64 * 1024,
      tag: 'Messages',
      summary: 'Acknowledge (delete) messages',
      requestSchema: {
        type: 'object',
        required: ['ids'],
        properties: { ids: { type: 'array', maxItems: MAX_FETCH, items: { type: 'string' } } },
      },
      response: {
        status: 200,
        description: 'how many were deleted (unknown ids are ignored)',
        schema: { type: 'object', properties: { deleted: { type: 'integer' } } },
      },
      errors: ['unauthorized', 'forbidden', 'invalid_body', 'unavailable'],
      handler: ackHandler(deps),
    },
    {
      method: 'PUT',
      path: '/:id/keys',
      access: 'owner',
      body: 'json',
      bodyLimit: 128 * 1024,
      tag: 'Prekeys',
      summary: 'Replace the key bundle and its one-time prekeys',
      description: `Key material is opaque to the relay: base64url strings of at most ${MAX_KEY_CHARS} characters. At most ${MAX_PREKEYS_PER_REQUEST} prekeys per request.`,
      requestSchema: {
        type: 'object',
        required: ['identityKey', 'signedPreKey'],
        properties: {
          identityKey: b64('identity public key, opaque'),
          signedPreKey: signedPreKeySchema,
          preKeys: { type: 'array', maxItems: MAX_PREKEYS_PER_REQUEST, items: preKeySchema },
        },
      },
      response: {
        status: 200,
        description: 'saved; preKeys: how many one-time prekeys it holds',
        schema: { type: 'object', properties: { preKeys: { type: 'integer' } } },
      },
      errors: ['unauthorized', 'forbidden', 'invalid_body', 'too_large', 'unavailable'],
      handler: putKeysHandler(deps),
    },
    {
      method: 'POST',
      path: '/:id/keys/prekeys',
      access: 'owner',
      body: 'json',
      bodyLimit: 128 * 1024,
      tag: 'Prekeys',
      summary: 'Add one-time prekeys',
      description: `At most ${MAX_PREKEYS_PER_REQUEST} per request and ${MAX_PREKEYS} held per inbox.`,
      requestSchema: {
        type: 'object',
        required: ['preKeys'],
        properties: {
          preKeys: { type: 'array', maxItems: MAX_PREKEYS_PER_REQUEST, items: preKeySchema },
        },
      },
      response: {
        status: 200,
        description: 'how many one-time prekeys it holds now',
        schema: { type: 'object', properties: { preKeys: { type: 'integer' } } },
      },
      errors: [
        'unauthorized',
        'forbidden',
        'invalid_body',
        'not_found',
        'too_many_prekeys',
        'unavailable',
      ],
      handler: addPrekeysHandler(deps),
    },
    {
      method: 'GET',
      path: '/:id/keys',
      access: 'anyone',
      body: 'none',
      limit: 'prekeys',
      tag: 'Prekeys',
      summary: 'Fetch the key bundle with one one-time prekey',
      description:
        'The one-time prekey is removed in the same atomic step: it is handed out at most once, across every relay. preKey is null when none are left. Rate limited per (address, inbox).',
      response: {
        status: 200,
        description: 'the bundle',
        schema: {
          type: 'object',
          properties: {
            identityKey: b64('identity public key'),
            signedPreKey: signedPreKeySchema,
            preKey: { oneOf: [preKeySchema, { type: 'null' }] },
          },
        },
      },
      errors: ['invalid_id', 'not_found', 'rate_limited', 'unavailable'],
      handler: takeKeysHandler(deps),
    },
    {
      method: 'GET',
      path: '/:id/keys/count',
      access: 'owner',
      body: 'none',
      tag: 'Prekeys',
      summary: 'How many one-time prekeys are left',
      response: {
        status: 200,
        description: 'the count',
        schema: { type: 'object', properties: { count: { type: 'integer' } } },
      },
      errors: ['unauthorized', 'forbidden', 'unavailable'],
      handler: countKeysHandler(deps),
    },
    {
      method: 'PUT',
      path: '/:id/policy',
      access: 'owner',
      body: 'json',
      bodyLimit: 64 * 1024,
      tag: 'Owner data',
      summary: 'Set the inbox policy: who may post',
      description:
        'requireSignature: only signed posts (Npchat-From, Npchat-Time, Npchat-Signature) are accepted; acceptFrom: only posts signed by these inbox ids (null: any sender). Refused posts get 403 refused.',
      requestSchema: policySchema,
      response: { status: 200, description: 'the policy as saved', schema: policySchema },
      errors: ['unauthorized', 'forbidden', 'invalid_body', 'unavailable'],
      handler: putPolicyHandler(deps),
    },
    {
      method: 'GET',
      path: '/:id/policy',
      access: 'owner',
      body: 'none',
      tag: 'Owner data',
      summary: 'Read the inbox policy',
      response: {
        status: 200,
        description: 'the policy (no policy: everything is accepted)',
        schema: policySchema,
      },
      errors: ['unauthorized', 'forbidden', 'unavailable'],
      handler: getPolicyHandler(deps),
    },
    ...blob('shareable', 'anyone', 'public contact card'),
    ...blob('data', 'owner', "owner's private data (for the owner's own devices)"),
  ];
  const page = (path: string, summary: string, send: Route['handler'], type: string): Route => ({
    method: 'GET',
    path,
    access: 'anyone',
    body: 'none',
    tag: 'Operations',
    summary,
    response: { status: 200, description: summary, schema: { type: 'string' }, type },
    errors: [],
    handler: send,
  });
  // Generated once, from this very table (itself included).
  let document: string | null = null;
  routes.push(
    page(
      '/openapi.json',
      'This OpenAPI 3.1 document',
      async ({ res }) => {
        document ??= JSON.stringify(openApiDocument(routes, deps.version));
        sendRawJson(res, document);
      },
      'application/json',
    ),
    page(
      '/docs',
      'The API documentation, in a browser',
      async ({ res }) => sendDocsPage(res),
      'text/html',
    ),
    page(
      '/docs/init.js',
      'Documentation page script',
      async ({ res }) => sendDocsInit(res),
      'text/javascript',
    ),
    ...DOC_ASSETS.map((name) =>
      page(
        `/docs/${name}`,
        `Documentation page asset (Swagger UI)`,
        async ({ res }) => sendDocAsset(res, name),
        name.endsWith('.css') ? 'text/css' : 'text/javascript',
      ),
    ),
  );
  return routes;
}
