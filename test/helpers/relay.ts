import { afterEach } from 'vitest';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createRelay, type Relay, type RelayHooks } from '../../src/relay.js';

export interface TestRelay {
  relay: Relay;
  url: string;
  wsUrl: string;
  config: Config;
  /** Every log line written so far (parsed JSON). */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Rate limits are off unless a test turns them on: every test talks from
 * 127.0.0.1, and the suites that test the limits set their own.
 */
export const NO_RATE_LIMITS: Partial<Config> = {
  postRate: 0,
  inboxRate: 0,
  handshakeRate: 0,
  authFailures: 0,
  prekeyRate: 0,
  fetchRate: 0,
  maxConnectionsPerAddress: 100_000,
};

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig(['--port', '0', '--host', '127.0.0.1'], {}),
    ...NO_RATE_LIMITS,
    ...overrides,
  };
}

export function captureLogger(level: string, logs: Record<string, unknown>[]): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  return createLogger(level, sink);
}

export async function startRelay(
  overrides: Partial<Config> = {},
  logLevel = 'silent',
  hooks: RelayHooks = {},
): Promise<TestRelay> {
  const config = testConfig(overrides);
  const logs: Record<string, unknown>[] = [];
  const relay = createRelay(config, captureLogger(logLevel, logs), hooks);
  const { url } = await relay.listen();
  return {
    relay,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    config,
    logs,
    close: () => relay.close(),
  };
}

/**
 * In-process relays for one test file: `relay(config)` starts one, and every
 * relay started so far is closed after each test, pass or fail.
 */
export function relaysPerTest(): (config?: Partial<Config>) => Promise<TestRelay> {
  let relays: TestRelay[] = [];
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.close()));
    relays = [];
  });
  return async (config = {}) => {
    const r = await startRelay(config);
    relays.push(r);
    return r;
  };
}
