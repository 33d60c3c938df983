/**
 * Lua scripts with named inputs. A script declares the names of its keys and
 * arguments; each name becomes a Lua local ahead of the body
 * (`local seq = KEYS[1]`, `local now = ARGV[1]`, always strings), and callers
 * pass objects, so no call site or script counts positions. Arguments after
 * the named ones (lists of ids or prekeys) are passed as `rest` and read in
 * Lua as `ARGV[REST + i]`, where `REST` is the number of named arguments.
 */
import type { RedisClient } from './connect.js';

export type Arg = string | number | Buffer;

export interface ScriptSpec<K extends string, A extends string> {
  /** The ioredis command name (unique per client). */
  name: string;
  keys: readonly K[];
  args: readonly A[];
  /** The body; a first line `#!lua flags=…` stays the first line. */
  lua: string;
}

export interface Script<K extends string, A extends string> {
  (keys: Record<K, string>, args: Record<A, Arg>, rest?: readonly Arg[]): Promise<unknown>;
  /** The same call with bulk replies as Buffers (binary message bodies). */
  buffers(keys: Record<K, string>, args: Record<A, Arg>, rest?: readonly Arg[]): Promise<unknown>;
}

export function defineScript<K extends string, A extends string>(
  redis: RedisClient,
  spec: ScriptSpec<K, A>,
): Script<K, A> {
  const text = spec.lua.replace(/^\n+/, '');
  const shebang = text.startsWith('#!lua') ? text.slice(0, text.indexOf('\n') + 1) : '';
  const prelude = [
    ...spec.keys.map((k, i) => `local ${k} = KEYS[${i + 1}]`),
    ...spec.args.map((a, i) => `local ${a} = ARGV[${i + 1}]`),
    `local REST = ${spec.args.length}`,
  ].join('\n');
  redis.defineCommand(spec.name, {
    numberOfKeys: spec.keys.length,
    lua: `${shebang}${prelude}\n${text.slice(shebang.length)}`,
  });
  const commands = redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>;
  const call =
    (command: string) =>
    (keys: Record<K, string>, args: Record<A, Arg>, rest: readonly Arg[] = []) =>
      commands[command]!(
        ...spec.keys.map((k) => keys[k]),
        ...spec.args.map((a) => args[a]),
        ...rest,
      );
  const script = call(spec.name) as Script<K, A>;
  script.buffers = call(`${spec.name}Buffer`);
  return script;
}
