/** Operations endpoints (PROTOCOL.md §5): /health, /ready, /info, /ping. */
import type { ServerResponse } from 'node:http';
import { RelayError } from '../errors.js';
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
}

export const OPS_PATHS = new Set(['health', 'ready', 'info', 'ping']);

export async function handleOps(name: string, res: ServerResponse, deps: OpsDeps): Promise<void> {
  switch (name) {
    case 'health':
      return sendJson(res, 200, { status: 'ok' });
    case 'ping':
      return sendText(res, 200, 'pong');
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
