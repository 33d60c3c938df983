import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, settingsHelp, settingsTable } from '../../src/config.js';
import { tempDir } from '../helpers/cleanup.js';

const dir = tempDir('npchat-config-');
function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('configuration', () => {
  it('has the defaults of PROTOCOL.md §6', () => {
    expect(loadConfig([], {})).toMatchObject({
      port: 8000,
      host: '0.0.0.0',
      cert: '',
      privkey: '',
      msgTtl: 60,
      cleanPeriod: 30,
      freshKey: 5,
      challengeTtl: 30,
      handshakeTimeout: 10,
      heartbeat: 30,
      maxMessageBytes: 1048576,
      maxBufferedBytes: 4194304,
      logLevel: 'info',
    });
  });

  it('uses the §6 env and flag names for every setting', () => {
    const names = Object.fromEntries(settingsTable().map((s) => [s.key, [s.env, s.arg]]));
    expect(names).toMatchObject({
      port: ['NPCHAT_PORT', 'port'],
      host: ['NPCHAT_HOST', 'host'],
      cert: ['NPCHAT_CERT', 'cert'],
      privkey: ['NPCHAT_PRIVKEY', 'privkey'],
      msgTtl: ['NPCHAT_MSG_TTL', 'msgttl'],
      cleanPeriod: ['NPCHAT_CLEAN_PERIOD', 'cleanperiod'],
      freshKey: ['NPCHAT_FRESHKEY', 'freshkey'],
      challengeTtl: ['NPCHAT_CHALLENGE_TTL', 'challengettl'],
      handshakeTimeout: ['NPCHAT_HANDSHAKE_TIMEOUT', 'handshaketimeout'],
      heartbeat: ['NPCHAT_HEARTBEAT', 'heartbeat'],
      maxMessageBytes: ['NPCHAT_MAX_MESSAGE_BYTES', 'maxmessagebytes'],
      maxBufferedBytes: ['NPCHAT_MAX_BUFFERED_BYTES', 'maxbufferedbytes'],
      logLevel: ['NPCHAT_LOG_LEVEL', 'loglevel'],
      redisUrl: ['NPCHAT_REDIS_URL', 'redis'],
      redisCluster: ['NPCHAT_REDIS_CLUSTER', 'rediscluster'],
      redisPrefix: ['NPCHAT_REDIS_PREFIX', 'redisprefix'],
      workers: ['NPCHAT_WORKERS', 'workers'],
    });
  });

  it('reads env and flags; flags override env, env overrides the file', () => {
    const f = file('a.json', JSON.stringify({ port: 1111, msgTtl: 5, freshKey: 9 }));
    const c = loadConfig(['--config', f, '--port', '3333'], {
      NPCHAT_PORT: '2222',
      NPCHAT_MSG_TTL: '7',
    });
    expect(c.port).toBe(3333);
    expect(c.msgTtl).toBe(7);
    expect(c.freshKey).toBe(9);
    expect(loadConfig(['--msgttl=120'], {}).msgTtl).toBe(120);
    expect(loadConfig([], { NPCHAT_CONFIG: f }).port).toBe(1111);
  });

  it.each([
    [
      ['--port', 'abc'],
      {},
      /port \(NPCHAT_PORT, --port\): must be a whole number from 0 to 65535, got "abc"/,
    ],
    [['--port', '70000'], {}, /port/],
    [
      [],
      { NPCHAT_MSG_TTL: '0' },
      /msgTtl \(NPCHAT_MSG_TTL, --msgttl\): must be a whole number of seconds/,
    ],
    [[], { NPCHAT_FRESHKEY: '-3' }, /freshKey/],
    [['--maxmessagebytes', '1.5'], {}, /maxMessageBytes/],
    [['--loglevel', 'loud'], {}, /logLevel .* must be one of/],
    [['--bogus', '1'], {}, /Unknown option --bogus/],
    [['--cert', '/nonexistent'], {}, /cert and privkey must be given together/],
    [['--cert', '/nonexistent', '--privkey', '/nonexistent'], {}, /cannot be read/],
    [['--redis', 'http://localhost'], {}, /redisUrl .*redis:\/\/, rediss:\/\/ or unix:\/\/\//],
    [['--redis', 'unix://relative/redis.sock'], {}, /redisUrl .*unix:\/\/\/ \(a socket path\)/],
    [[], { NPCHAT_REDIS_CLUSTER: 'a:1,b' }, /redisCluster .*host:port/],
    [['--redis', 'redis://x', '--rediscluster', 'a:1'], {}, /give one of them/],
    [['--redis', 'redis://x', '--redisprefix', 'a{b}'], {}, /redisPrefix/],
    [['--workers', '2'], {}, /workers .*needs Redis .*each worker keeps its own queue/],
    [['--workers', '0', '--redis', 'redis://x'], {}, /workers .*from 1 to 256/],
  ])('rejects %j %j with one sentence', (args, env, message) => {
    let err: unknown;
    try {
      loadConfig(args, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message.split('\n')).toHaveLength(1);
  });

  it('validates every whole-number setting: out of range, fractional, not a number', () => {
    const numeric = settingsTable().filter((s) => s.range);
    expect(numeric.length).toBeGreaterThan(25);
    for (const s of numeric) {
      for (const bad of [String(s.range!.min - 1), String(s.range!.max + 1), '1.5', 'abc']) {
        let err: unknown;
        try {
          loadConfig([`--${s.arg}=${bad}`], { NPCHAT_REDIS_URL: 'redis://x' });
        } catch (e) {
          err = e;
        }
        expect(err, `${s.key}=${bad}`).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toContain(`${s.key} (${s.env}, --${s.arg})`);
        expect((err as Error).message.split('\n')).toHaveLength(1);
      }
    }
  });

  it.each([
    [['--host', 'a b'], /host .*without spaces/],
    [['--trustproxy', '10.0.0.0/8,nope'], /trustProxy .*"nope" is not an IP address/],
    [['--trustproxy', '10.0.0.0/40'], /trustProxy .*prefix length/],
    [['--persistfile', '/nonexistent-dir/q.json'], /persistFile .*does not exist/],
    [['--ackwindow', '1001'], /ackWindow .*at most 1000/],
    [['--metrics', 'maybe'], /metrics .*on, off, or \[host:\]port/],
    [['--metrics', '127.0.0.1:70000'], /metrics .*port from 1 to 65535/],
    [['--inboxmaxbytes', '1000'], /inboxMaxBytes .*at least maxMessageBytes/],
    [['--storemaxbytes', '1000'], /storeMaxBytes .*at least maxMessageBytes/],
  ])('rejects the string and cross-field setting %j', (args, message) => {
    expect(() => loadConfig(args, {})).toThrow(message);
  });

  it('accepts limits, trusted proxies and 0 for "no limit" on rates', () => {
    const c = loadConfig(
      ['--trustproxy', '10.0.0.0/8, ::1', '--postrate', '0', '--inboxmaxmessages', '5'],
      {},
    );
    expect(c).toMatchObject({ trustProxy: '10.0.0.0/8, ::1', postRate: 0, inboxMaxMessages: 5 });
  });

  it('rejects unknown keys and unreadable JSON in the config file', () => {
    expect(() => loadConfig(['--config', file('b.json', '{"prot": 1}')], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--config', file('c.json', '{oops')], {})).toThrow(
      /Cannot read config file/,
    );
    expect(() => loadConfig(['--config', join(dir, 'missing.json')], {})).toThrow(ConfigError);
  });

  it('config/example.json loads, documents and sets every setting at its default', () => {
    const path = new URL('../../config/example.json', import.meta.url).pathname;
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const fromFile = loadConfig(['--config', path], {});
    expect(fromFile).toEqual(loadConfig([], {}));
    for (const s of settingsTable()) {
      expect(raw[s.key]).toEqual(s.default);
      expect(String(raw[`// ${s.key}`])).toContain(s.env);
    }
  });

  it('accepts Redis settings', () => {
    expect(loadConfig(['--redis', 'rediss://u:p@h:6380/2', '--workers', '4'], {})).toMatchObject({
      redisUrl: 'rediss://u:p@h:6380/2',
      workers: 4,
      redisPrefix: 'npchat:',
    });
    expect(loadConfig(['--redis', 'unix:///run/redis/redis.sock?db=2'], {}).redisUrl).toBe(
      'unix:///run/redis/redis.sock?db=2',
    );
    expect(loadConfig([], { NPCHAT_REDIS_CLUSTER: 'r1:7000,r2:7001' }).redisCluster).toBe(
      'r1:7000,r2:7001',
    );
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(loadConfig([], {}))).toBe(true);
  });

  it('help lists every setting with its flag, env, default and doc', () => {
    const help = settingsHelp();
    for (const s of settingsTable()) {
      expect(help).toContain(`--${s.arg}`);
      expect(help).toContain(s.env);
    }
    expect(help).toContain('default 1048576');
  });
});
