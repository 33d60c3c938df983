/**
 * Scripts (src/redis/script.ts) on a real Redis and a Cluster: arguments
 * arrive byte for byte, each connection is sent the script whole once (EVAL)
 * and then its hash (EVALSHA), a flushed script is sent again without the
 * caller seeing NOSCRIPT, and a script's own error is not retried.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { defineScript, Joined } from '../../src/redis/script.js';
import { redisAndCluster, uniquePrefix } from '../helpers/redis.js';

const ECHO = {
  name: 'testEcho',
  keys: ['a', 'b'],
  args: ['x', 'y'],
  lua: `
local out = {a, b, x, y}
for i = REST + 1, #ARGV do out[#out + 1] = ARGV[i] end
return out
`,
} as const;

const FAIL = {
  name: 'testFail',
  keys: ['a'],
  args: [],
  lua: `return redis.error_reply('ERR test failure ' .. a)`,
} as const;

/** EVAL and EVALSHA calls the server has counted (INFO commandstats). */
async function scriptCalls(redis: Redis): Promise<{ eval: number; evalsha: number }> {
  const info = await redis.info('commandstats');
  const calls = (name: string) =>
    Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { eval: calls('eval'), evalsha: calls('evalsha') };
}

describe('Redis scripts', () => {
  const shared = redisAndCluster();

  it('keys, named arguments and the rest arrive byte for byte; replies as text or Buffers', async () => {
    const echo = defineScript(shared.redis, ECHO);
    const p = uniquePrefix();
    const binary = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x80]);
    const tail = Buffer.from([0xfe, 0x00, 0x41]);
    const reply = (await echo.buffers(
      { a: `${p}a`, b: `${p}ü` },
      { x: 42, y: new Joined('head€:', tail) },
      [binary, '', Buffer.alloc(0), 'é'],
    )) as Buffer[];
    expect(reply.map((b) => b.toString('hex'))).toEqual(
      [
        Buffer.from(`${p}a`),
        Buffer.from(`${p}ü`),
        Buffer.from('42'),
        Buffer.concat([Buffer.from('head€:'), tail]),
        binary,
        Buffer.alloc(0),
        Buffer.alloc(0),
        Buffer.from('é'),
      ].map((b) => b.toString('hex')),
    );
    expect(await echo({ a: 'k1', b: 'k2' }, { x: 'text', y: 7 })).toEqual([
      'k1',
      'k2',
      'text',
      '7',
    ]);
  });

  it('the first call on a connection sends the script, the next ones its hash', async () => {
    const client = shared.duplicate();
    const echo = defineScript(client, { ...ECHO, lua: `${ECHO.lua}-- ${uniquePrefix()}\n` });
    const before = await scriptCalls(shared.redis);
    for (let i = 0; i < 5; i++)
      expect(await echo({ a: 'a', b: 'b' }, { x: i, y: 'y' })).toEqual(['a', 'b', String(i), 'y']);
    const after = await scriptCalls(shared.redis);
    expect(after.eval - before.eval).toBe(1);
    expect(after.evalsha - before.evalsha).toBe(4);
  });

  it('a flushed script is sent again: the caller never sees NOSCRIPT', async () => {
    const client = shared.duplicate();
    const echo = defineScript(client, { ...ECHO, lua: `${ECHO.lua}-- ${uniquePrefix()}\n` });
    expect(await echo({ a: 'a', b: 'b' }, { x: 1, y: 2 })).toEqual(['a', 'b', '1', '2']);
    await shared.redis.script('FLUSH');
    const before = await scriptCalls(shared.redis);
    // Several at once: each is answered NOSCRIPT and sent again.
    const replies = await Promise.all(
      [1, 2, 3].map((i) => echo({ a: 'a', b: 'b' }, { x: i, y: 0 })),
    );
    expect(replies).toEqual([1, 2, 3].map((i) => ['a', 'b', String(i), '0']));
    const mid = await scriptCalls(shared.redis);
    expect(mid.evalsha - before.evalsha).toBe(3); // each answered NOSCRIPT
    expect(mid.eval - before.eval).toBeGreaterThanOrEqual(1);
    // Loaded again: the hash is enough from now on.
    expect(await echo({ a: 'a', b: 'b' }, { x: 9, y: 9 })).toEqual(['a', 'b', '9', '9']);
    const after = await scriptCalls(shared.redis);
    expect(after.eval).toBe(mid.eval);
    expect(after.evalsha - mid.evalsha).toBe(1);
  });

  it("a script's own error is the caller's, sent once, not retried", async () => {
    const fail = defineScript(shared.redis, FAIL);
    await expect(fail({ a: 'one' }, {})).rejects.toThrow('ERR test failure one');
    const before = await scriptCalls(shared.redis);
    await expect(fail({ a: 'two' }, {})).rejects.toThrow('ERR test failure two');
    const after = await scriptCalls(shared.redis);
    expect(after.eval + after.evalsha - before.eval - before.evalsha).toBe(1);
  });

  it('Cluster: each call goes to the node of its keys, which is sent the script once', async () => {
    const cluster = shared.clusterClient;
    const echo = defineScript(cluster, ECHO);
    // Hash tags spread over the three masters.
    const tags = Array.from({ length: 12 }, (_, i) => `{${uniquePrefix()}${i}}`);
    const masters = cluster.nodes('master');
    const before = await Promise.all(masters.map((node) => scriptCalls(node)));
    for (let round = 0; round < 2; round++) {
      const replies = await Promise.all(
        tags.map((t) =>
          echo.buffers({ a: `${t}a`, b: `${t}b` }, { x: round, y: Buffer.from([0xff]) }),
        ),
      );
      expect(replies).toEqual(
        tags.map((t) => [
          Buffer.from(`${t}a`),
          Buffer.from(`${t}b`),
          Buffer.from(String(round)),
          Buffer.from([0xff]),
        ]),
      );
    }
    const after = await Promise.all(masters.map((node) => scriptCalls(node)));
    const evals = after.map((a, i) => a.eval - before[i]!.eval);
    const shas = after.map((a, i) => a.evalsha - before[i]!.evalsha);
    // The script once per node connection that got calls, the hash for the rest.
    for (const n of evals) expect(n).toBeLessThanOrEqual(1);
    expect(evals.reduce((a, b) => a + b) + shas.reduce((a, b) => a + b)).toBe(24);
    expect(shas.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(21);
    // A node whose scripts were flushed is sent the script again.
    await Promise.all(cluster.nodes('master').map((node) => node.script('FLUSH')));
    const again = await Promise.all(
      tags.map((t) => echo({ a: `${t}a`, b: `${t}b` }, { x: 'z', y: 'w' })),
    );
    expect(again).toEqual(tags.map((t) => [`${t}a`, `${t}b`, 'z', 'w']));
  }, 20_000);
});
