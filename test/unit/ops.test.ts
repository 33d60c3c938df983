import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { handleOps, type OpsDeps } from '../../src/http/ops.js';
import type { Store } from '../../src/store/store.js';
import { Metrics, SCRAPE_REUSE_MS } from '../../src/metrics.js';

/** Captures what a handler writes. */
function fakeResponse() {
  const out = { status: 0, body: '', headers: {} as Record<string, unknown> };
  const res = {
    headersSent: false,
    writeHead(status: number, headers: Record<string, unknown>) {
      out.status = status;
      out.headers = headers;
      return res;
    },
    end(body: string) {
      out.body = body;
    },
  };
  return { res: res as unknown as ServerResponse, out };
}

function deps(closing: boolean, ping: () => Promise<void>): OpsDeps {
  return {
    store: { kind: 'memory', ping } as unknown as Store,
    version: '1.2.3',
    startTime: 0,
    msgTtl: 60,
    maxMessageBytes: 1000,
    isClosing: () => closing,
    metrics: new Metrics({
      sockets: () => ({}),
      store: { kind: 'memory', ping } as unknown as Store,
    }),
    serveMetrics: true,
  };
}

describe('/ready', () => {
  it('200 while the store answers and the relay is not closing', async () => {
    const { res, out } = fakeResponse();
    await handleOps(
      'ready',
      res,
      deps(false, async () => {}),
    );
    expect(out.status).toBe(200);
  });

  it('503 unavailable once shutdown began', async () => {
    const { res, out } = fakeResponse();
    await handleOps(
      'ready',
      res,
      deps(true, async () => {}),
    );
    expect(out.status).toBe(503);
    expect(JSON.parse(out.body)).toMatchObject({ error: 'unavailable' });
  });

  it('503 unavailable when the store does not answer', async () => {
    const { res, out } = fakeResponse();
    await handleOps(
      'ready',
      res,
      deps(false, () => Promise.reject(new Error('down'))),
    );
    expect(out.status).toBe(503);
    expect(JSON.parse(out.body).message).toMatch(/store/);
  });
});

describe('Metrics.scrape', () => {
  it('makes at most one scrape per SCRAPE_REUSE_MS, and never reuses a failed one', async () => {
    const clock = { t: 1_000_000 };
    let made = 0;
    let fail = false;
    const metrics = new Metrics({
      // Read once per scrape made: counts them.
      sockets: () => {
        made++;
        if (fail) throw new Error('gauge failed');
        return { legacy: made };
      },
      store: { kind: 'memory', count: async () => 0 } as unknown as Store,
      now: () => clock.t,
    });
    const legacy = (text: string) => /npchat_sockets_open\{mode="legacy"\} (\d+)/.exec(text)?.[1];
    const texts = await Promise.all(Array.from({ length: 50 }, () => metrics.scrape()));
    expect(made).toBe(1);
    expect(new Set(texts).size).toBe(1);
    expect(legacy(texts[0]!)).toBe('1');
    clock.t += SCRAPE_REUSE_MS - 1;
    expect(legacy(await metrics.scrape())).toBe('1');
    expect(made).toBe(1);
    clock.t += 1;
    expect(legacy(await metrics.scrape())).toBe('2');
    expect(made).toBe(2);
    clock.t += SCRAPE_REUSE_MS;
    fail = true;
    await expect(metrics.scrape()).rejects.toThrow('gauge failed');
    fail = false;
    expect(legacy(await metrics.scrape())).toBe('4'); // made again at once
    expect(made).toBe(4);
  });
});
