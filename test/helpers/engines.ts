/**
 * Runs a suite on both engines: registers beforeAll/afterAll hooks that start
 * and stop a private redis-server, and returns [name, config] pairs whose
 * config functions are called inside tests' own hooks (each gets a fresh
 * key prefix).
 */
import { afterAll, beforeAll } from 'vitest';
import type { Config } from '../../src/config.js';
import { startRedis, uniquePrefix, type RedisServer } from './redis.js';

export type EngineSetup = [name: string, config: () => Partial<Config>];

export function bothEngines(): EngineSetup[] {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());
  return [
    ['memory', () => ({})],
    ['redis', () => ({ redisUrl: server.url, redisPrefix: uniquePrefix() })],
  ];
}
