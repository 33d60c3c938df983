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

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...CORS_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    ...CORS_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: RelayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = errorBody(err);
  res.writeHead(err.status, {
    ...CORS_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...err.headers,
  });
  res.end(text);
}

/** A body that is JSON text already (cached documents). */
export function sendRawJson(res: ServerResponse, text: string): void {
  res.writeHead(200, {
    ...CORS_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}
