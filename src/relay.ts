/**
 * The composition root: builds the store, hub, keyring, gateway and HTTP
 * server from a validated Config, and owns their lifecycle.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ChallengeKeyring } from './auth/keyring.js';
import { parseMetrics, type Config } from './config.js';
import { createEngine, type Engine } from './engine.js';
import { RelayError, toRelayError } from './errors.js';
import { addressKey, clientAddress, isTrusted, parseTrustProxy } from './http/address.js';
import { apiRoutes, type ApiDeps } from './http/api.js';
import { createRouter, logFailure, parseTarget, upgradeInbox } from './http/router.js';
import { routeTable } from './http/routes.js';
import { sendMetrics } from './http/ops.js';
import { sendError } from './http/respond.js';
import { createLimits } from './limits.js';
import { Metrics } from './metrics.js';
import type { Logger } from './logger.js';
import { Gateway, refuseUpgrade } from './ws/gateway.js';

/** Set by the bundler (npm run bundle), which has no package.json beside its output. */
declare const __NPCHAT_VERSION__: string | undefined;

export const VERSION: string =
  typeof __NPCHAT_VERSION__ === 'string'
    ? __NPCHAT_VERSION__
    : (
        JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
          version: string;
        }
      ).version;

/** Where a connection keeps the address key it counts under. */
const ADDRESS_KEY = Symbol('npchat.addressKey');

function destroySocket(this: Duplex): void {
  this.destroy();
}

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

/** Node checks header and request timeouts this often (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1000;
/** Longest time for a whole request, body included. */
const REQUEST_TIMEOUT_MS = 300_000;

export function createRelay(config: Config, logger: Logger, hooks: RelayHooks = {}): Relay {
  const tls = Boolean(config.cert);
  const base: Engine = createEngine(config, logger, (n) =>
    metrics.messages.inc({ event: 'expired' }, n),
  );
  const engine = hooks.engine ? hooks.engine(base) : base;
  const { hub } = engine;
  // Sockets are counted at scrape time, when the gateway exists.
  const metrics: Metrics = new Metrics({
    sockets: () => gateway.socketModes(),
    store: engine.store,
  });
  const store = metrics.instrument(engine.store);
  const limits = createLimits(
    config,
    engine.redis ? { client: engine.redis, prefix: config.redisPrefix } : undefined,
    (limit) => metrics.rateLimited.inc({ limit }),
  );
  const metricsMode = parseMetrics(config.metrics)!;
  const trusted = parseTrustProxy(config.trustProxy);
  // An untrusted peer's key was worked out once for its connection (below);
  // a trusted proxy's clients are told apart per request by X-Forwarded-For.
  const addressOf = (req: IncomingMessage) =>
    (req.socket as Socket & { [ADDRESS_KEY]?: string })[ADDRESS_KEY] ??
    addressKey(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted));
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
    // another session gets it soon; the store is re-checked every heartbeat.
    leaseMs: 3 * config.heartbeat * 1000,
    ackWindow: config.ackWindow,
    limits,
    metrics,
    maxSocketsPerInbox: config.maxSocketsPerInbox,
  });

  let closing = false;
  let closed: Promise<void> | null = null;
  let inFlight = 0;
  let idle: (() => void) | null = null;

  // Aborted when shutdown begins: waiting long-polls answer at once.
  const stopping = new AbortController();
  const apiDeps: ApiDeps = {
    store,
    hub,
    limits,
    metrics,
    serveMetrics: metricsMode.mode === 'on',
    logger,
    bodyMinRate: config.bodyMinRate,
    msgTtlMs: config.msgTtl * 1000,
    msgTtl: config.msgTtl,
    maxMessageBytes: config.maxMessageBytes,
    version: VERSION,
    startTime: Date.now(),
    isClosing: () => closing,
    keyring,
    owner: engine.owner,
    sessionTtlMs: config.sessionTtl * 1000,
    leaseMs: 3 * config.heartbeat * 1000,
    maxDataBytes: config.maxDataBytes,
    maxSocketsPerInbox: config.maxSocketsPerInbox,
    polls: new Map(),
    shutdown: stopping.signal,
  };
  const table = routeTable(apiRoutes(apiDeps));
  const router = createRouter(apiDeps, table);

  const serverOptions = {
    headersTimeout: config.headersTimeout * 1000,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: TIMEOUT_CHECK_MS,
  };
  const server: Server = tls
    ? createHttpsServer({
        ...serverOptions,
        cert: readFileSync(config.cert),
        key: readFileSync(config.privkey),
      })
    : createHttpServer(serverOptions);
  server.maxConnections = config.maxConnections;
  const log = logger.child({ component: 'http' });

  // Connections per address (trusted proxies are exempt: they carry many clients).
  const perAddress = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    if (isTrusted(trusted, peer)) return;
    const ipKey = addressKey(peer);
    const n = (perAddress.get(ipKey) ?? 0) + 1;
    if (n > config.maxConnectionsPerAddress) {
      log.debug('connection refused: too many from one address');
      metrics.rateLimited.inc({ limit: 'connection' });
      socket.destroy();
      return;
    }
    perAddress.set(ipKey, n);
    // One shared listener, the key on the socket: no closure kept per connection.
    (socket as Socket & { [ADDRESS_KEY]?: string })[ADDRESS_KEY] = ipKey;
    socket.once('close', leftAddress);
  });
  function leftAddress(this: Socket & { [ADDRESS_KEY]?: string }): void {
    const ipKey = this[ADDRESS_KEY]!;
    const left = (perAddress.get(ipKey) ?? 1) - 1;
    if (left <= 0) perAddress.delete(ipKey);
    else perAddress.set(ipKey, left);
  }
  // A client that breaks the HTTP syntax gets a plain 400 and is dropped; it never reaches a handler.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log.debug({ code: err.code }, 'malformed request');
    if (socket.writable && !socket.destroyed) {
      const code =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${code}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });
  function requestClosed(): void {
    if (--inFlight === 0 && idle) idle();
  }
  server.on('request', (req, res) => {
    inFlight++;
    res.on('close', requestClosed); // 'close' comes once: no once() wrapper needed
    if (closing) res.setHeader('Connection', 'close');
    router(req, res, addressOf(req)).catch((err: unknown) => {
      log.error({ err }, 'request handler failed');
      res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', destroySocket); // shared: no closure kept per socket
    try {
      if (closing) return refuseUpgrade(socket, new RelayError('going_away'));
      const inbox = upgradeInbox(table, parseTarget(req.url).path);
      gateway.upgrade(req, socket, head, inbox, addressOf(req));
    } catch (err) {
      const relayErr = toRelayError(err);
      logFailure(log, err, relayErr, 'upgrade');
      refuseUpgrade(socket, relayErr);
    }
  });

  // NPCHAT_METRICS=[host:]port: /metrics on a listener of its own (not public).
  const metricsServer =
    metricsMode.mode === 'port'
      ? createHttpServer((req, res) => {
          if (parseTarget(req.url).path !== '/metrics' || req.method !== 'GET') {
            return sendError(res, new RelayError('not_found'));
          }
          sendMetrics(res, metrics).catch((err: unknown) => {
            log.error({ err }, 'metrics failed');
            res.destroy();
          });
        })
      : null;

  async function shutdown(): Promise<void> {
    closing = true;
    stopping.abort();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
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
      if (metricsServer && metricsMode.mode === 'port') {
        await new Promise<void>((resolve, reject) => {
          metricsServer.once('error', reject);
          metricsServer.listen(metricsMode.port, metricsMode.host, () => resolve());
        });
        logger.info({ port: metricsMode.port, host: metricsMode.host }, 'metrics listening');
      }
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
