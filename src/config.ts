/**
 * Configuration (PROTOCOL.md §6): convict schema, every setting with an env
 * variable and a flag, an optional JSON file (`--config FILE` or
 * NPCHAT_CONFIG). Precedence: flags > env > file > defaults. Validated once,
 * strictly; a bad value is a ConfigError whose message is one sentence naming
 * the setting and the rule.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import convict from 'convict';
import { parseTrustProxy } from './http/address.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Rule {
  name: string;
  min: number;
  max: number;
  sentence: string;
}

const RULES: Rule[] = [
  { name: 'port', min: 0, max: 65535, sentence: 'must be a whole number from 0 to 65535' },
  {
    name: 'seconds',
    min: 1,
    max: 31_536_000,
    sentence: 'must be a whole number of seconds, at least 1',
  },
  { name: 'count', min: 1, max: 1_000_000, sentence: 'must be a whole number, at least 1' },
  { name: 'bytes', min: 1, max: 2 ** 31, sentence: 'must be a whole number of bytes, at least 1' },
  { name: 'workers', min: 1, max: 256, sentence: 'must be a whole number from 1 to 256' },
  {
    name: 'limit',
    min: 0,
    max: 1_000_000,
    sentence: 'must be a whole number from 0 (no limit) to 1000000',
  },
];

for (const rule of RULES) {
  convict.addFormat({
    name: rule.name,
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < rule.min || v > rule.max) {
        throw new Error(rule.sentence);
      }
    },
  });
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const schema = {
  port: {
    doc: 'TCP port to listen on (0: any free port).',
    format: 'port',
    default: 8000,
    env: 'NPCHAT_PORT',
    arg: 'port',
  },
  host: {
    doc: 'Address to listen on.',
    format: String,
    default: '0.0.0.0',
    env: 'NPCHAT_HOST',
    arg: 'host',
  },
  cert: {
    doc: 'TLS certificate file (PEM); with privkey, the relay serves only HTTPS and WSS.',
    format: String,
    default: '',
    env: 'NPCHAT_CERT',
    arg: 'cert',
  },
  privkey: {
    doc: 'TLS private key file (PEM); goes with cert.',
    format: String,
    default: '',
    env: 'NPCHAT_PRIVKEY',
    arg: 'privkey',
  },
  msgTtl: {
    doc: 'Longest time a message is stored, in seconds (a sender may ask for less with the TTL header).',
    format: 'seconds',
    default: 60,
    env: 'NPCHAT_MSG_TTL',
    arg: 'msgttl',
  },
  cleanPeriod: {
    doc: 'How often expired messages are swept from the memory store, in seconds.',
    format: 'seconds',
    default: 30,
    env: 'NPCHAT_CLEAN_PERIOD',
    arg: 'cleanperiod',
  },
  freshKey: {
    doc: 'Challenges signed with one server key before it is replaced.',
    format: 'count',
    default: 5,
    env: 'NPCHAT_FRESHKEY',
    arg: 'freshkey',
  },
  challengeTtl: {
    doc: 'Lifetime of a handshake challenge, in seconds.',
    format: 'seconds',
    default: 30,
    env: 'NPCHAT_CHALLENGE_TTL',
    arg: 'challengettl',
  },
  handshakeTimeout: {
    doc: 'Time a new WebSocket has to complete the handshake, in seconds (then closed with 4408).',
    format: 'seconds',
    default: 10,
    env: 'NPCHAT_HANDSHAKE_TIMEOUT',
    arg: 'handshaketimeout',
  },
  heartbeat: {
    doc: 'Interval between WebSocket pings, in seconds; a socket that missed the previous pong is terminated.',
    format: 'seconds',
    default: 30,
    env: 'NPCHAT_HEARTBEAT',
    arg: 'heartbeat',
  },
  maxMessageBytes: {
    doc: 'Largest message body or WebSocket frame, in bytes (413 / close 1009 above it).',
    format: 'bytes',
    default: 1048576,
    env: 'NPCHAT_MAX_MESSAGE_BYTES',
    arg: 'maxmessagebytes',
  },
  maxBufferedBytes: {
    doc: 'Unsent bytes a socket may hold before it counts as a slow consumer, in bytes.',
    format: 'bytes',
    default: 4194304,
    env: 'NPCHAT_MAX_BUFFERED_BYTES',
    arg: 'maxbufferedbytes',
  },
  shutdownTimeout: {
    doc: 'Longest graceful shutdown on SIGTERM/SIGINT, in seconds.',
    format: 'seconds',
    default: 10,
    env: 'NPCHAT_SHUTDOWN_TIMEOUT',
    arg: 'shutdowntimeout',
  },
  ackWindow: {
    doc: 'Messages an ack-mode session may have in flight unacknowledged; the rest follow as acks arrive.',
    format: 'count',
    default: 100,
    env: 'NPCHAT_ACK_WINDOW',
    arg: 'ackwindow',
  },
  inboxMaxMessages: {
    doc: 'Most messages one inbox may hold stored (507 inbox_full above it).',
    format: 'count',
    default: 10000,
    env: 'NPCHAT_INBOX_MAX_MESSAGES',
    arg: 'inboxmaxmessages',
  },
  inboxMaxBytes: {
    doc: 'Most message bytes one inbox may hold stored (507 inbox_full above it); at least maxMessageBytes.',
    format: 'bytes',
    default: 16777216,
    env: 'NPCHAT_INBOX_MAX_BYTES',
    arg: 'inboxmaxbytes',
  },
  storeMaxBytes: {
    doc: 'Memory store only: most bytes the whole queue may hold, bodies plus a fixed overhead per entry (503 with Retry-After above it).',
    format: 'bytes',
    default: 268435456,
    env: 'NPCHAT_STORE_MAX_BYTES',
    arg: 'storemaxbytes',
  },
  postRate: {
    doc: 'POSTs per second from one address (IPv6: one /64), on top of postBurst; 0: no limit (429 above it).',
    format: 'limit',
    default: 50,
    env: 'NPCHAT_POST_RATE',
    arg: 'postrate',
  },
  postBurst: {
    doc: 'POSTs one address may send above postRate in a burst (refilled over postBurst/postRate seconds).',
    format: 'limit',
    default: 200,
    env: 'NPCHAT_POST_BURST',
    arg: 'postburst',
  },
  inboxRate: {
    doc: 'Messages per second to one inbox from all senders, on top of inboxBurst; 0: no limit (429 above it).',
    format: 'limit',
    default: 50,
    env: 'NPCHAT_INBOX_RATE',
    arg: 'inboxrate',
  },
  inboxBurst: {
    doc: 'Messages one inbox may receive above inboxRate in a burst.',
    format: 'limit',
    default: 500,
    env: 'NPCHAT_INBOX_BURST',
    arg: 'inboxburst',
  },
  handshakeRate: {
    doc: 'Challenges per second to one address (IPv6: one /64), on top of handshakeBurst; 0: no limit (close 4029 above it).',
    format: 'limit',
    default: 10,
    env: 'NPCHAT_HANDSHAKE_RATE',
    arg: 'handshakerate',
  },
  handshakeBurst: {
    doc: 'Challenges one address may ask above handshakeRate in a burst.',
    format: 'limit',
    default: 50,
    env: 'NPCHAT_HANDSHAKE_BURST',
    arg: 'handshakeburst',
  },
  authFailures: {
    doc: 'Failed handshakes per minute from one address before it is refused (close 4029) for the rest of the minute; 0: no limit.',
    format: 'limit',
    default: 20,
    env: 'NPCHAT_AUTH_FAILURES',
    arg: 'authfailures',
  },
  prekeyRate: {
    doc: 'Key bundle fetches (GET /{id}/keys) per second from one address to one inbox, on top of prekeyBurst; 0: no limit.',
    format: 'limit',
    default: 1,
    env: 'NPCHAT_PREKEY_RATE',
    arg: 'prekeyrate',
  },
  prekeyBurst: {
    doc: 'Key bundle fetches one address may make to one inbox above prekeyRate in a burst.',
    format: 'limit',
    default: 10,
    env: 'NPCHAT_PREKEY_BURST',
    arg: 'prekeyburst',
  },
  fetchRate: {
    doc: 'Owner fetches (GET /{id}/messages) per second for one inbox, on top of fetchBurst; 0: no limit (429 above it).',
    format: 'limit',
    default: 10,
    env: 'NPCHAT_FETCH_RATE',
    arg: 'fetchrate',
  },
  fetchBurst: {
    doc: 'Owner fetches for one inbox allowed above fetchRate in a burst.',
    format: 'limit',
    default: 50,
    env: 'NPCHAT_FETCH_BURST',
    arg: 'fetchburst',
  },
  sessionTtl: {
    doc: 'Lifetime of an owner API session token (POST /{id}/session), seconds.',
    format: 'seconds',
    default: 86400,
    env: 'NPCHAT_SESSION_TTL',
    arg: 'sessionttl',
  },
  maxDataBytes: {
    doc: 'Largest contact card (/{id}/shareable) or private data (/{id}/data), bytes of JSON.',
    format: 'count',
    default: 16384,
    env: 'NPCHAT_MAX_DATA_BYTES',
    arg: 'maxdatabytes',
  },
  trustProxy: {
    doc: 'Comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed; empty: none.',
    format: String,
    default: '',
    env: 'NPCHAT_TRUST_PROXY',
    arg: 'trustproxy',
  },
  maxConnections: {
    doc: 'Most TCP connections the relay holds at once (HTTP and WebSocket); more are closed at once.',
    format: 'count',
    default: 20000,
    env: 'NPCHAT_MAX_CONNECTIONS',
    arg: 'maxconnections',
  },
  maxConnectionsPerAddress: {
    doc: 'Most TCP connections from one address (IPv6: one /64) at once; trusted proxies are exempt.',
    format: 'count',
    default: 256,
    env: 'NPCHAT_MAX_CONNECTIONS_PER_ADDRESS',
    arg: 'maxconnectionsperaddress',
  },
  maxSocketsPerInbox: {
    doc: 'Most authenticated WebSockets one inbox may have on one relay; more are closed with 4029.',
    format: 'count',
    default: 16,
    env: 'NPCHAT_MAX_SOCKETS_PER_INBOX',
    arg: 'maxsocketsperinbox',
  },
  headersTimeout: {
    doc: 'Time a client has to send the request line and headers, in seconds (then 408 and close).',
    format: 'seconds',
    default: 5,
    env: 'NPCHAT_HEADERS_TIMEOUT',
    arg: 'headerstimeout',
  },
  bodyMinRate: {
    doc: 'Slowest accepted request body, in bytes per second averaged after a 5 s grace (then 408 and close).',
    format: 'count',
    default: 1024,
    env: 'NPCHAT_BODY_MIN_RATE',
    arg: 'bodyminrate',
  },
  metrics: {
    doc: 'Prometheus metrics: "on" (GET /metrics on the main port), "off", or [host:]port for a listener of their own, so they need not be public.',
    format: String,
    default: 'on',
    env: 'NPCHAT_METRICS',
    arg: 'metrics',
  },
  persistFile: {
    doc: 'Memory store only: file that keeps the queue across a graceful restart (written at shutdown, read at start).',
    format: String,
    default: '',
    env: 'NPCHAT_PERSIST_FILE',
    arg: 'persistfile',
  },
  redisUrl: {
    doc: 'Redis URL (redis://, rediss://, or unix:///path/to/redis.sock for a Redis on this host) for the scale-out engine; empty: the embedded memory store.',
    format: String,
    default: '',
    env: 'NPCHAT_REDIS_URL',
    arg: 'redis',
  },
  redisCluster: {
    doc: 'Redis Cluster seed nodes, comma-separated host:port (instead of redisUrl).',
    format: String,
    default: '',
    env: 'NPCHAT_REDIS_CLUSTER',
    arg: 'rediscluster',
  },
  redisPrefix: {
    doc: 'Prefix of every Redis key and channel, so several relays can share one Redis.',
    format: String,
    default: 'npchat:',
    env: 'NPCHAT_REDIS_PREFIX',
    arg: 'redisprefix',
  },
  workers: {
    doc: 'Worker processes sharing the port (node:cluster); more than 1 needs Redis.',
    format: 'workers',
    default: 1,
    env: 'NPCHAT_WORKERS',
    arg: 'workers',
  },
  logLevel: {
    doc: `Log level: ${LOG_LEVELS.join(', ')}.`,
    format: LOG_LEVELS,
    default: 'info',
    env: 'NPCHAT_LOG_LEVEL',
    arg: 'loglevel',
  },
};

export type Config = Readonly<{
  port: number;
  host: string;
  cert: string;
  privkey: string;
  msgTtl: number;
  cleanPeriod: number;
  freshKey: number;
  challengeTtl: number;
  handshakeTimeout: number;
  heartbeat: number;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  shutdownTimeout: number;
  ackWindow: number;
  inboxMaxMessages: number;
  inboxMaxBytes: number;
  storeMaxBytes: number;
  postRate: number;
  postBurst: number;
  inboxRate: number;
  inboxBurst: number;
  handshakeRate: number;
  handshakeBurst: number;
  authFailures: number;
  prekeyRate: number;
  prekeyBurst: number;
  fetchRate: number;
  fetchBurst: number;
  sessionTtl: number;
  maxDataBytes: number;
  trustProxy: string;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxSocketsPerInbox: number;
  headersTimeout: number;
  bodyMinRate: number;
  metrics: string;
  persistFile: string;
  redisUrl: string;
  redisCluster: string;
  redisPrefix: string;
  workers: number;
  logLevel: string;
}>;

type Key = keyof typeof schema;
const KEYS = Object.keys(schema) as Key[];

function label(key: Key): string {
  return `${key} (${schema[key].env}, --${schema[key].arg})`;
}

/** Flags the relay knows: every setting's flag, plus --config and --help. */
function checkFlags(args: readonly string[]): void {
  const known = new Set<string>(['config', 'help', ...KEYS.map((k) => schema[k].arg)]);
  for (const arg of args) {
    if (!arg.startsWith('-')) continue;
    const name = arg.replace(/^--?/, '').split('=')[0] ?? '';
    if (!known.has(name))
      throw new ConfigError(`Unknown option ${arg}: see --help for the settings.`);
  }
}

function configFile(args: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config') return args[i + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return env.NPCHAT_CONFIG || undefined;
}

/** Reads a JSON config file; keys starting with "//" are comments and are dropped. */
function readConfigFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${file}: ${(err as Error).message}.`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`Cannot read config file ${file}: it must hold one JSON object.`);
  }
  return Object.fromEntries(Object.entries(json).filter(([k]) => !k.startsWith('//')));
}

/** Builds the validated, frozen configuration from flags, env and an optional file. */
export function loadConfig(args: readonly string[], env: NodeJS.ProcessEnv): Config {
  checkFlags(args);
  const settingArgs = args.filter(
    (a, i) => !a.startsWith('--config') && args[i - 1] !== '--config',
  );
  const conf = convict(schema, { args: [...settingArgs], env: { ...env } });
  const file = configFile(args, env);
  if (file !== undefined) conf.load(readConfigFile(file));
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    for (const key of KEYS) {
      const value = conf.get(key);
      const rule = RULES.find((r) => r.name === schema[key].format);
      const bad = rule
        ? typeof value !== 'number' ||
          !Number.isInteger(value) ||
          value < rule.min ||
          value > rule.max
        : key === 'logLevel' && !LOG_LEVELS.includes(String(value));
      if (bad) {
        const sentence = rule ? rule.sentence : `must be one of ${LOG_LEVELS.join(', ')}`;
        throw new ConfigError(`Invalid ${label(key)}: ${sentence}, got ${JSON.stringify(value)}.`);
      }
    }
    const first = String((err as Error).message).split('\n')[0];
    throw new ConfigError(`Invalid configuration: ${first}.`);
  }
  const config = conf.getProperties() as Config;
  if (!/^\S+$/.test(config.host)) {
    throw new ConfigError(
      `Invalid ${label('host')}: must be an address or host name without spaces.`,
    );
  }
  checkRedis(config);
  checkLimits(config);
  if (Boolean(config.cert) !== Boolean(config.privkey)) {
    throw new ConfigError('Invalid cert/privkey: cert and privkey must be given together.');
  }
  for (const key of ['cert', 'privkey'] as const) {
    if (!config[key]) continue;
    try {
      accessSync(config[key], constants.R_OK);
    } catch {
      throw new ConfigError(`Invalid ${label(key)}: file ${config[key]} cannot be read.`);
    }
  }
  return Object.freeze(config);
}

/** NPCHAT_METRICS: on, off, or a listener of their own; null when malformed. */
export function parseMetrics(
  value: string,
): { mode: 'on' | 'off' } | { mode: 'port'; host: string; port: number } | null {
  if (value === 'on' || value === 'off') return { mode: value };
  const m = /^(?:(\S+):)?(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return null;
  return {
    mode: 'port',
    host: (m[1] ?? '0.0.0.0').replace(/^\[(.*)\]$/, '$1'),
    port: Number(m[2]),
  };
}

/** Cross-field rules of the limits, as sentences. */
function checkLimits(config: Config): void {
  if (config.ackWindow > 1000) {
    throw new ConfigError(
      `Invalid ${label('ackWindow')}: must be at most 1000, the most ids one ack frame may carry.`,
    );
  }
  if (config.inboxMaxBytes < config.maxMessageBytes) {
    throw new ConfigError(
      `Invalid ${label('inboxMaxBytes')}: must be at least maxMessageBytes (${config.maxMessageBytes}), or no message of the largest size could ever be stored.`,
    );
  }
  if (config.storeMaxBytes < config.maxMessageBytes) {
    throw new ConfigError(
      `Invalid ${label('storeMaxBytes')}: must be at least maxMessageBytes (${config.maxMessageBytes}).`,
    );
  }
  if (parseMetrics(config.metrics) === null) {
    throw new ConfigError(
      `Invalid ${label('metrics')}: must be on, off, or [host:]port with a port from 1 to 65535, got ${JSON.stringify(config.metrics)}.`,
    );
  }
  try {
    parseTrustProxy(config.trustProxy);
  } catch (err) {
    throw new ConfigError(`Invalid ${label('trustProxy')}: ${(err as Error).message}.`);
  }
}

/** Cross-field rules of the Redis settings, as sentences. */
function checkRedis(config: Config): void {
  if (config.redisUrl && !/^(rediss?:\/\/[^\s]+|unix:\/\/\/[^\s]+)$/.test(config.redisUrl)) {
    throw new ConfigError(
      `Invalid ${label('redisUrl')}: must start with redis://, rediss:// or unix:/// (a socket path).`,
    );
  }
  if (config.redisCluster && !/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/.test(config.redisCluster)) {
    throw new ConfigError(
      `Invalid ${label('redisCluster')}: must be comma-separated host:port seed nodes, got ${JSON.stringify(config.redisCluster)}.`,
    );
  }
  if (config.redisUrl && config.redisCluster) {
    throw new ConfigError('Invalid redisUrl/redisCluster: give one of them, not both.');
  }
  if (!/^[^{}\s]+$/.test(config.redisPrefix)) {
    throw new ConfigError(
      `Invalid ${label('redisPrefix')}: must be non-empty, without spaces or braces.`,
    );
  }
  if (config.persistFile) {
    try {
      accessSync(dirname(config.persistFile), constants.W_OK);
    } catch {
      throw new ConfigError(
        `Invalid ${label('persistFile')}: directory ${dirname(config.persistFile)} does not exist or cannot be written.`,
      );
    }
  }
  if (config.persistFile && (config.redisUrl || config.redisCluster)) {
    throw new ConfigError(
      `Invalid ${label('persistFile')}: it is for the embedded memory store; with Redis the queue lives in Redis.`,
    );
  }
  if (config.workers > 1 && !config.redisUrl && !config.redisCluster) {
    throw new ConfigError(
      `Invalid ${label('workers')}: more than 1 worker needs Redis (NPCHAT_REDIS_URL or NPCHAT_REDIS_CLUSTER), because with the embedded store each worker keeps its own queue and a message posted to one worker would never reach a socket on another.`,
    );
  }
}

/** One block per setting: flag, env, doc, default. */
export function settingsHelp(): string {
  return KEYS.map((key) => {
    const s = schema[key];
    const def = s.default === '' ? 'none' : String(s.default);
    return `  --${s.arg} <value>\n      ${s.env}; default ${def}\n      ${s.doc}`;
  }).join('\n');
}

/** Setting name, env, flag, default and doc, for the README table test. */
export function settingsTable(): {
  key: string;
  env: string;
  arg: string;
  default: unknown;
  /** For whole-number settings: the accepted range. */
  range?: { min: number; max: number };
}[] {
  return KEYS.map((key) => {
    const rule = RULES.find((r) => r.name === schema[key].format);
    return {
      key,
      env: schema[key].env,
      arg: schema[key].arg,
      default: schema[key].default,
      ...(rule ? { range: { min: rule.min, max: rule.max } } : {}),
    };
  });
}
