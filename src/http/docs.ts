/**
 * GET /docs: the OpenAPI document rendered by Swagger UI (swagger-ui-dist,
 * served by the relay itself: deployments may have no internet, and no page
 * of the relay loads anything from elsewhere). GET /openapi.json: the
 * document. The assets are read once, at the first request.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RelayError } from '../errors.js';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>npchat-relay API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#ui', deepLinking: true });\n`;

/** Scripts and styles only from the relay itself (Swagger UI sets inline styles). */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DOC_ASSETS = ['swagger-ui-bundle.js', 'swagger-ui.css'] as const;
export type DocAsset = (typeof DOC_ASSETS)[number];

/** Where the assets are: next to the bundle (container image), else in node_modules. */
function assetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, 'docs');
  if (existsSync(join(bundled, DOC_ASSETS[0]))) return bundled;
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

const cache = new Map<string, Buffer>();

function asset(name: DocAsset): Buffer {
  let data = cache.get(name);
  if (!data) {
    try {
      data = readFileSync(join(assetDir(), name));
    } catch {
      throw new RelayError('not_found', 'The API documentation assets are not installed.');
    }
    cache.set(name, data);
  }
  return data;
}

function send(res: ServerResponse, type: string, body: string | Buffer, maxAge: number): void {
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': maxAge ? `public, max-age=${maxAge}` : 'no-store',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

export function sendDocsPage(res: ServerResponse): void {
  send(res, 'text/html; charset=utf-8', PAGE, 0);
}

export function sendDocsInit(res: ServerResponse): void {
  send(res, 'text/javascript; charset=utf-8', INIT, 3600);
}

export function sendDocAsset(res: ServerResponse, name: DocAsset): void {
  const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
  send(res, type, asset(name), 86400);
}
