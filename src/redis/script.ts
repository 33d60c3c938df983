/**
 * Lua scripts with named inputs. A script declares the names of its keys and
 * arguments; each name becomes a Lua local ahead of the body
 * (`local seq = KEYS[1]`, `local now = ARGV[1]`, always strings), and callers
 * pass objects, so no call site or script counts positions. Arguments after
 * the named ones (lists of ids or prekeys) are passed as `rest` and read in
 * Lua as `ARGV[REST + i]`, where `REST` is the number of named arguments.
 *
 * A call is one ioredis `Command` (so replies, timeouts, Cluster routing and
 * redirections stay ioredis's), which writes itself: EVALSHA in one pass over
 * its arguments, into one buffer only when an argument is binary. ioredis's
 * own scripts copied the arguments four times over and measured each string
 * three times (~5 µs of ~29 per call on the relay's side, measured); a stored
 * POST makes one call. Like ioredis's, the first call on each connection
 * sends the script itself (EVAL), and a NOSCRIPT answer (the scripts were
 * flushed, or Redis restarted behind a proxy) sends it again.
 */
import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import type { RedisClient } from './connect.js';

/**
 * One argument made of a text head and a binary tail, sent as one bulk
 * string without first joining them into a buffer of their own.
 */
export class Joined {
  constructor(
    readonly head: string,
    readonly tail: Uint8Array,
  ) {}
}

export type Arg = string | number | Buffer | Joined;

export interface ScriptSpec<K extends string, A extends string> {
  /** The script's name, for readers of the code (Redis knows it by its hash). */
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

/**
 * The RESP form of a command: a string while every argument is text, else
 * one buffer (the text runs between binary arguments written into it).
 */
export function encodeCommand(name: string, args: readonly Arg[]): string | Buffer {
  let text = `*${args.length + 1}\r\n$${Buffer.byteLength(name)}\r\n${name}\r\n`;
  let pieces: (string | Uint8Array)[] | null = null;
  let size = 0;
  for (const arg of args) {
    if (typeof arg === 'string') {
      text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    } else if (typeof arg === 'number') {
      const digits = String(arg);
      text += `$${digits.length}\r\n${digits}\r\n`;
    } else {
      pieces ??= [];
      let tail: Uint8Array = arg as Buffer;
      if (arg instanceof Joined) {
        tail = arg.tail;
        const head = Buffer.byteLength(arg.head);
        text += `$${head + tail.byteLength}\r\n${arg.head}`;
      } else {
        text += `$${tail.byteLength}\r\n`;
      }
      size += Buffer.byteLength(text) + tail.byteLength;
      pieces.push(text, tail);
      text = '\r\n';
    }
  }
  if (pieces === null) return text;
  size += Buffer.byteLength(text);
  pieces.push(text);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      at += out.write(piece, at);
    } else {
      out.set(piece, at);
      at += piece.byteLength;
    }
  }
  return out;
}

const isNoScript = (err: unknown) => err instanceof Error && err.message.includes('NOSCRIPT');

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
  const lua = `${shebang}${prelude}\n${text.slice(shebang.length)}`;
  const sha = createHash('sha1').update(lua).digest('hex');
  /** Connections known to hold the script (the first call on any other sends it whole). */
  const loaded = new WeakSet<object>();

  class ScriptCommand extends Command {
    /** The connection it was last written to (forgotten by `loaded` on NOSCRIPT). */
    sentOn: object | null = null;

    // Arguments stay as given (numbers, Joined): encodeCommand writes them.
    override stringifyArguments(): void {}

    override toWritable(socket: object): string | Buffer {
      this.sentOn = socket;
      // Written again after a Cluster redirection: the script may be on one node and not another.
      if (!loaded.has(socket)) {
        loaded.add(socket);
        this.name = 'eval';
        this.args[0] = lua;
      } else if (this.name === 'eval') {
        this.name = 'evalsha';
        this.args[0] = sha;
      }
      return encodeCommand(this.name, this.args as Arg[]);
    }
  }

  const call =
    (replyEncoding: 'utf8' | null) =>
    (keys: Record<K, string>, args: Record<A, Arg>, rest?: readonly Arg[]): Promise<unknown> => {
      const list: Arg[] = [sha, spec.keys.length];
      for (const k of spec.keys) list.push(keys[k]);
      for (const a of spec.args) list.push(args[a]);
      if (rest) for (const r of rest) list.push(r);
      const command = new ScriptCommand('evalsha', list as never, { replyEncoding });
      return (redis.sendCommand(command) as Promise<unknown>).catch((err: unknown) => {
        if (!isNoScript(err)) throw err;
        // The script is gone from that connection: send it whole, once more.
        if (command.sentOn) loaded.delete(command.sentOn);
        return redis.sendCommand(
          new ScriptCommand('evalsha', list as never, { replyEncoding }),
        ) as Promise<unknown>;
      });
    };
  const script = call('utf8') as Script<K, A>;
  script.buffers = call(null);
  return script;
}
