/** Writing answers: JSON bodies, the error catalog, CORS on everything. */
import type { ServerResponse } from 'node:http';
import { errorBody, type RelayError } from '../errors.js';

export const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Retry-After',
};

/** Request headers a browser may send (the preflight's Allow-Headers). */
export const REQUEST_HEADERS = [
  'Content-Type',
  'TTL',
  'Idempotency-Key',
  'Authorization',
  'Npchat-From',
  'Npchat-Time',
  'Npchat-Signature',
];

/** The CORS preflight answer for a path with these methods (from the route table). */
export function preflightHeaders(methods: readonly string[]): Record<string, string> {
  return {
    ...CORS_HEADERS,
    'Access-Control-Allow-Methods': methods.join(', '),
    'Access-Control-Allow-Headers': REQUEST_HEADERS.join(', '),
    'Access-Control-Max-Age': '86400',
  };
}

/**
 * Every answer of the relay but the docs assets: CORS, a length, never cached.
 * The header object is written as one literal (spreading a shared object into
 * it cost ~3 µs per answer, the largest single item of a POST in a profile).
 */
function send(
  res: ServerResponse,
  status: number,
  type: string,
  text: string,
  extra?: Record<string, string>,
): void {
  const headers: Record<string, string | number> = {
    // CORS_HEADERS, written out
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'Retry-After',
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  };
  if (extra) for (const name of Object.keys(extra)) headers[name] = extra[name]!;
  res.writeHead(status, headers);
  res.end(text);
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  if (res.headersSent) return;
  send(res, status, JSON_TYPE, JSON.stringify(body), headers);
}

/**
 * A POST's 200 answer, `{"message":"sent","id":…,"t":…}`, written without
 * JSON.stringify: the id is decimal digits and t a number, nothing to escape.
 */
export function sendSent(res: ServerResponse, id: string, t: number): void {
  if (res.headersSent) return;
  send(res, 200, JSON_TYPE, `{"message":"sent","id":"${id}","t":${t}}`);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  send(res, status, 'text/plain; charset=utf-8', text);
}

export function sendError(res: ServerResponse, err: RelayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, err.status, JSON_TYPE, errorBody(err), err.headers);
}

/** A body that is JSON text already (cached documents, stored blobs). */
export function sendRawJson(res: ServerResponse, text: string): void {
  send(res, 200, JSON_TYPE, text);
}
