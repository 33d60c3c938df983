/** Operations endpoints (PROTOCOL.md §5): /health, /ready, /info, /ping, /metrics. */
import type { ServerResponse } from 'node:http';
import { RelayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { sendError, sendJson, sendText } from './respond.js';

export interface OpsDeps {
  store: Store;
  version: string;
  startTime: number;
  msgTtl: number;
  maxMessageBytes: number;
  /** True once shutdown began: /ready answers 503. */
  isClosing: () => boolean;
  metrics: Metrics;
  /** NPCHAT_METRICS=on: /metrics on the main port. */
  serveMetrics: boolean;
}

export const OPS_PATHS = new Set(['health', 'ready', 'info', 'ping', 'metrics']);

/** The Prometheus text of a relay's registry. */
export async function sendMetrics(res: ServerResponse, metrics: Metrics): Promise<void> {
  const text = await metrics.scrape();
  res.writeHead(200, {
    'Content-Type': metrics.registry.contentType,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

export async function handleOps(name: string, res: ServerResponse, deps: OpsDeps): Promise<void> {
  switch (name) {
    case 'health':
      return sendJson(res, 200, { status: 'ok' });
    case 'ping':
      return sendText(res, 200, 'pong');
    case 'metrics':
      if (!deps.serveMetrics) return sendError(res, new RelayError('not_found'));
      return sendMetrics(res, deps.metrics);
    case 'info':
      return sendJson(res, 200, {
        status: deps.isClosing() ? 'closing' : 'ok',
        version: deps.version,
        startTime: deps.startTime,
        time: Date.now(),
        msgTtl: deps.msgTtl,
        maxMessageBytes: deps.maxMessageBytes,
        store: deps.store.kind,
      });
    case 'ready': {
      if (deps.isClosing()) {
        return sendError(res, new RelayError('unavailable', 'The relay is shutting down.'));
      }
      try {
        await deps.store.ping();
      } catch {
        return sendError(res, new RelayError('unavailable', 'The store does not answer.'));
      }
      return sendJson(res, 200, { status: 'ready' });
    }
  }
}
