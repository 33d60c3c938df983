/**
 * /openapi.json is a valid OpenAPI 3.1 document covering every route of the
 * table; /docs renders it in a real browser (Debian's chromium, driven by
 * playwright-core) from assets the relay serves itself.
 */
import { existsSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, type ApiDeps } from '../../src/http/api.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let relay: TestRelay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(() => relay.close());

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>>;
}

describe('API documentation', () => {
  it('/openapi.json is valid OpenAPI 3.1 and has every route of the table', async () => {
    const res = await fetch(`${relay.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApiDoc;
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    const deps = { serveMetrics: true, maxDataBytes: 1, version: 'x' } as unknown as ApiDeps;
    for (const route of apiRoutes(deps)) {
      const path = route.path.replace(/:id/g, '{id}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${path}`).toBeDefined();
      // owner routes say so, and document their 401 and 403
      if (route.access === 'owner') {
        expect(op!.security).toEqual([{ ownerToken: [] }]);
        expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
    expect(doc.paths['/{id}/keys']!.get!.responses['429']).toBeDefined();
    // Every 429 and 503 answer documents its Retry-After header, and no other does.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, answer] of Object.entries(op.responses)) {
          const headers = (answer as { headers?: Record<string, unknown> }).headers ?? {};
          const retry = status === '429' || status === '503';
          expect(Object.keys(headers), `${method} ${path} ${status}`).toEqual(
            retry ? ['Retry-After'] : [],
          );
        }
      }
    }
  });

  it('/docs shows every endpoint in headless Chromium, loading nothing from elsewhere', async () => {
    expect(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    ).toBe(true);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on('request', (req) => requested.push(req.url()));
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${relay.url}/docs`);
      await page.waitForSelector('.opblock', { timeout: 20_000 });
      const text = await page.locator('#ui').innerText();
      for (const path of [
        '/{id}/challenge',
        '/{id}/session',
        '/{id}/messages',
        '/{id}/ack',
        '/{id}/keys',
        '/{id}/keys/prekeys',
        '/{id}/keys/count',
        '/{id}/policy',
        '/{id}/shareable',
        '/{id}/data',
        '/health',
      ]) {
        expect(text).toContain(path);
      }
      expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(20);
      expect(errors).toEqual([]);
      expect(requested.every((u) => u.startsWith(relay.url) || u.startsWith('data:'))).toBe(true);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
