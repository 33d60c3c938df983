/**
 * The composition root: builds the store, hub, keyring, gateway and HTTP
 * server from a validated Config, and owns their lifecycle.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ChallengeKeyring } from './auth/keyring.js';
import type { Config } from './config.js';
import { createEngine, type Engine } from './engine.js';
import { RelayError } from './errors.js';
import { createRouter, route } from './http/router.js';
import type { Logger } from './logger.js';
import { MessageIds } from './store/message-ids.js';
import { Gateway, refuseUpgrade } from './ws/gateway.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** How long listen() waits for Redis before serving anyway (with /ready 503). */
const STARTUP_WAIT_MS = 5000;

export interface Relay {
  /** Starts listening; resolves with the bound address and the base URL. */
  listen(): Promise<{ port: number; url: string }>;
  /**
   * Graceful shutdown: stop accepting, /ready 503, close sockets with 1001,
   * let in-flight requests finish (up to shutdownTimeout), release everything.
   * Safe to call more than once.
   */
  close(): Promise<void>;
  readonly closing: boolean;
  /** Open owner WebSockets on this relay (handshake done or not). */
  readonly connections: number;
}

export interface RelayHooks {
  /** Wraps the engine (tests use it to interleave store and hub calls). */
  engine?: (engine: Engine) => Engine;
}

export function createRelay(config: Config, logger: Logger, hooks: RelayHooks = {}): Relay {
  const tls = Boolean(config.cert);
  const ids = new MessageIds();
  const base: Engine = createEngine(config, logger, ids, (inbox, msg) => {
    // Every socket that took a live message failed to write it: store it.
    if (!msg.store) return;
    engine.store
      .append(inbox, { body: msg.body, binary: msg.binary, t: msg.t, ttlMs: msg.ttlMs })
      .then(() => engine.hub.notifyStored(inbox))
      .catch((err: unknown) => logger.error({ err }, 'could not store an undelivered message'));
  });
  const engine = hooks.engine ? hooks.engine(base) : base;
  const { store, hub } = engine;
  const keyring = new ChallengeKeyring({
    freshKey: config.freshKey,
    challengeTtlMs: config.challengeTtl * 1000,
    directory: engine.directory,
  });
  const gateway = new Gateway({
    keyring,
    store,
    hub,
    logger,
    handshakeTimeoutMs: config.handshakeTimeout * 1000,
    heartbeatMs: config.heartbeat * 1000,
    maxMessageBytes: config.maxMessageBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    // A flushed message stays leased for three heartbeats: if this relay dies,
    // another session gets it soon; a live session re-flushes every heartbeat.
    leaseMs: 3 * config.heartbeat * 1000,
    ackWindow: config.ackWindow,
  });

  let closing = false;
  let closed: Promise<void> | null = null;
  let inFlight = 0;
  let idle: (() => void) | null = null;

  const router = createRouter({
    store,
    hub,
    ids,
    logger,
    msgTtlMs: config.msgTtl * 1000,
    msgTtl: config.msgTtl,
    maxMessageBytes: config.maxMessageBytes,
    version: VERSION,
    startTime: Date.now(),
    isClosing: () => closing,
  });

  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(config.cert), key: readFileSync(config.privkey) })
    : createHttpServer();
  server.on('request', (req, res) => {
    inFlight++;
    res.on('close', () => {
      if (--inFlight === 0 && idle) idle();
    });
    if (closing) res.setHeader('Connection', 'close');
    void router(req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (closing) return refuseUpgrade(socket, new RelayError('going_away'));
    const r = route(new URL(req.url ?? '/', 'http://relay').pathname);
    if (r.kind === 'inbox') return gateway.upgrade(req, socket, head, r.inbox);
    refuseUpgrade(socket, r.kind === 'error' ? r.error : new RelayError('not_found'));
  });

  async function shutdown(): Promise<void> {
    closing = true;
    logger.info('shutting down');
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    gateway.closeAll();
    server.closeIdleConnections();
    const drained =
      inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (idle = resolve));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, config.shutdownTimeout * 1000);
    });
    await Promise.race([drained, deadline]);
    server.closeAllConnections();
    gateway.close();
    await Promise.race([stopped, deadline]);
    clearTimeout(timer);
    await engine.close();
    logger.info('stopped');
  }

  return {
    get closing() {
      return closing;
    },
    get connections() {
      return gateway.sessions.size;
    },
    async listen() {
      await engine.start(STARTUP_WAIT_MS);
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          const host = config.host.includes(':') ? `[${config.host}]` : config.host;
          const url = `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
          logger.info(
            { port, host: config.host, tls, store: store.kind, version: VERSION },
            'listening',
          );
          resolve({ port, url });
        });
      });
    },
    close() {
      closed ??= shutdown();
      return closed;
    },
  };
}
