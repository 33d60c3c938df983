import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { handleOps, type OpsDeps } from '../../src/http/ops.js';
import type { Store } from '../../src/store/store.js';
import { Metrics } from '../../src/metrics.js';

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
