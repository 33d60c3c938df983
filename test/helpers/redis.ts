/**
 * Real redis-server instances for tests: each on a free port in its own temp
 * dir, stoppable and restartable (same port, same data dir), and a 3-master
 * Redis Cluster made with `redis-cli --cluster create`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { tempDir, track } from './cleanup.js';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

function requireRedis(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'redis-server is not installed: install it with `apt-get install -y redis-server` (.ci/run does this).',
    );
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Sends one inline command and resolves with the raw reply. */
export function rawCommand(port: number, command: string, ms = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no reply'));
    }, ms);
    sock.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.endsWith('\r\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(out);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.write(`${command}\r\n`);
  });
}

/** redis-server could not bind its port (another one took it first). */
class PortTaken extends Error {}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await check().catch((err: unknown) => {
      if (err instanceof PortTaken) throw err;
      return false;
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready in time`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RedisOptions {
  appendfsync?: 'always' | 'everysec';
  cluster?: boolean;
  /** Also listen on a Unix socket (`socketPath`, in the server's own dir). */
  unixSocket?: boolean;
  /** Also listen with TLS on `tlsPort` (PEM files; clients are not asked for certificates). */
  tls?: { cert: string; key: string };
}

export class RedisServer {
  private proc: ChildProcess | null = null;
  readonly dir = tempDir('npchat-redis-');

  constructor(
    readonly port: number,
    private readonly options: RedisOptions,
    /** The TLS port, with `tls` (0 without). */
    readonly tlsPort = 0,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The Unix socket it listens on with `unixSocket`. */
  get socketPath(): string {
    return join(this.dir, 'redis.sock');
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir];
    args.push('--save', '', '--protected-mode', 'no', '--loglevel', 'warning');
    if (this.options.appendfsync) {
      args.push('--appendonly', 'yes', '--appendfsync', this.options.appendfsync);
    } else {
      args.push('--appendonly', 'no');
    }
    if (this.options.unixSocket) {
      args.push('--unixsocket', this.socketPath, '--unixsocketperm', '700');
    }
    if (this.options.tls) {
      const { cert, key } = this.options.tls;
      args.push('--tls-port', String(this.tlsPort), '--tls-cert-file', cert);
      args.push('--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no');
    }
    if (this.options.cluster) {
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf');
      args.push('--cluster-node-timeout', '3000');
    }
    const proc = track(spawn('redis-server', args, { stdio: 'ignore' }));
    this.proc = proc;
    // The port must be answered by this very process: another test file may
    // have raced us to the same free port (then this one exits at once).
    await until(
      async () => {
        if (proc.exitCode !== null) throw new PortTaken();
        const info = await rawCommand(this.port, 'INFO server');
        return info.includes(`process_id:${proc.pid}\r\n`);
      },
      10_000,
      `redis-server on ${this.port}`,
    );
  }

  /** Stops the server (SIGKILL: as a crash; SIGTERM: clean) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
    this.proc = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  requireRedis();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    let tlsPort = 0;
    while (options.tls && (tlsPort === 0 || tlsPort === port)) tlsPort = await freePort();
    const server = new RedisServer(port, options, tlsPort);
    try {
      await server.start();
      return server;
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt >= 5) throw err;
    }
  }
}

export interface RedisCluster {
  servers: RedisServer[];
  /** Seed list for NPCHAT_REDIS_CLUSTER. */
  seeds: string;
  stop(): Promise<void>;
}

/** Three masters, no replicas, all slots assigned. */
export async function startCluster(): Promise<RedisCluster> {
  requireRedis();
  const servers: RedisServer[] = [];
  for (let i = 0; i < 3; i++) servers.push(await startRedis({ cluster: true }));
  const addrs = servers.map((s) => `127.0.0.1:${s.port}`);
  execFileSync(
    'redis-cli',
    ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'],
    {
      stdio: 'ignore',
    },
  );
  for (const s of servers) {
    await until(
      async () => (await rawCommand(s.port, 'CLUSTER INFO')).includes('cluster_state:ok'),
      20_000,
      `cluster node ${s.port}`,
    );
  }
  return {
    servers,
    seeds: addrs.join(','),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    },
  };
}

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}:`;
}

/** A redis-server and a 3-master Cluster for one test file, with a client for each. */
export interface SharedRedis {
  server: RedisServer;
  cluster: RedisCluster;
  redis: Redis;
  clusterClient: Cluster;
  /** Another client of the server, disconnected with the others. */
  duplicate(): Redis;
}

/** Starts both before the file's tests and stops both after; read the fields inside tests. */
export function redisAndCluster(): SharedRedis {
  const shared = {} as SharedRedis;
  const extra: Redis[] = [];
  beforeAll(async () => {
    [shared.server, shared.cluster] = await Promise.all([startRedis(), startCluster()]);
    shared.redis = new Redis(shared.server.url);
    shared.clusterClient = new Cluster(
      shared.cluster.seeds
        .split(',')
        .map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
    );
  }, 60_000);
  afterAll(async () => {
    shared.redis.disconnect();
    for (const r of extra) r.disconnect();
    shared.clusterClient.disconnect();
    await shared.server.stop();
    await shared.cluster.stop();
  });
  shared.duplicate = () => {
    const client = shared.redis.duplicate();
    extra.push(client);
    return client;
  };
  return shared;
}
