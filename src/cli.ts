/**
 * Subcommands: serve (the default), keygen, id, listen, send, login, fetch,
 * keys, policy. Everything that
 * touches the process (argv, env, streams, signals) comes in through `Io`.
 * Returns the exit status: 0 done, 1 failed, 2 usage or configuration error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { encodeB64url } from './client/b64url.js';
import { connect, RelayConnectionError, type WebSocketConstructor } from './client/connection.js';
import { fromKeyFile, generateKeys, toKeyFile } from './client/keys.js';
import { OwnerSession } from './client/owner.js';
import { post, RelayRequestError } from './client/post.js';
import { ConfigError, loadConfig, settingsHelp } from './config.js';
import { createLogger } from './logger.js';
import { createRelay, VERSION } from './relay.js';
import { isWorker, runPrimary } from './workers.js';

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** Resolves on the first SIGTERM or SIGINT. */
  signal: Promise<string>;
}

const USAGE = `Usage:
  npchat-relay [serve] [--setting value ...]   run the relay (see --help for settings)
  npchat-relay keygen [--out FILE]             make an owner key (JSON key file)
  npchat-relay id KEYFILE                      print the inbox id of a key file
  npchat-relay listen --key KEYFILE [--json] URL
                                               receive messages, one line each
  npchat-relay send [--ttl SECONDS] [--binary] [--sign KEYFILE] URL/ID TEXT|-
                                               post a message (- reads stdin); --sign: a signed post
  npchat-relay login --key KEYFILE URL         open an owner API session; print its token
  npchat-relay fetch --key KEYFILE [--json] [--once] URL
                                               long-poll the owner API: print, then ack
  npchat-relay keys --key KEYFILE URL          one-time prekeys left (owner API)
  npchat-relay policy --key KEYFILE [--require-signature] [--accept ID,ID...] [--open] URL
                                               show or set who may post to the inbox
  npchat-relay --help | --version`;

class UsageError extends Error {}

/** Splits `--name value` / `--name=value` options from positional arguments. */
function parseArgs(args: string[], valued: string[], bare: string[]) {
  const opts: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-' || !arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    const [name = '', inline] = arg.replace(/^--?/, '').split(/=(.*)/s);
    if (bare.includes(name) && inline === undefined) opts[name] = true;
    else if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      opts[name] = value;
    } else throw new UsageError(`unknown option ${arg}`);
  }
  return { opts, positional };
}

function readKeyFile(path: string) {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read key file ${path}: ${(err as Error).message}`);
  }
  return fromKeyFile(json);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function serve(args: string[], io: Io): Promise<number> {
  const config = loadConfig(args, io.env);
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && !isWorker()) return runPrimary(config, logger, io.signal);
  const relay = createRelay(config, logger);
  await relay.listen();
  const signal = await io.signal;
  logger.info({ signal }, 'signal received');
  await relay.close();
  return 0;
}

/**
 * What a terminal would act on rather than show: C0 and C1 controls (escape
 * sequences, bell, carriage return, backspace), DEL, and the bidirectional
 * overrides that reorder what follows; and the backslash that escapes them.
 * Anyone may post to an inbox, so a message must not be able to clear the
 * owner's screen, rewrite a line, retitle the window or set the clipboard.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_IN_JSON = /[\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function printable(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? unicodeEscape(c));
}

/** One output line per message: text (controls escaped), `[binary] b64url`, or JSON. */
function messageLine(
  data: string | Uint8Array,
  binary: boolean,
  json: boolean,
  from?: string,
): string {
  const text = typeof data === 'string' ? data : encodeB64url(data);
  if (json) {
    // JSON escapes C0 controls itself; DEL, C1 and the overrides are escaped too (same JSON value).
    return JSON.stringify({
      data: text,
      ...(binary ? { binary: true } : {}),
      ...(from !== undefined ? { from } : {}),
    }).replace(UNSAFE_IN_JSON, unicodeEscape);
  }
  return binary ? `[binary] ${text}` : printable(text);
}

/** `--key KEYFILE URL` options of the owner API commands; logs in. */
async function ownerSession(
  command: string,
  args: string[],
  bare: string[] = [],
  valued: string[] = [],
) {
  const { opts, positional } = parseArgs(args, ['key', ...valued], bare);
  if (typeof opts.key !== 'string' || positional.length !== 1) {
    throw new UsageError(`${command} needs --key KEYFILE and one relay URL`);
  }
  return { opts, session: await OwnerSession.login(positional[0]!, readKeyFile(opts.key)) };
}

async function login(args: string[], io: Io): Promise<number> {
  const { session } = await ownerSession('login', args);
  io.stdout.write(`${session.token}\n`);
  return 0;
}

async function fetchCommand(args: string[], io: Io): Promise<number> {
  const { opts, session } = await ownerSession('fetch', args, ['json', 'once']);
  const stop = new AbortController();
  void io.signal.then(() => stop.abort());
  try {
    do {
      const batch = opts.once
        ? await session.fetch({ wait: 0, signal: stop.signal })
        : await session.poll({ wait: 30, signal: stop.signal });
      for (const m of batch)
        io.stdout.write(messageLine(m.data, m.binary, opts.json === true, m.from) + '\n');
      // Acknowledged only once printed.
      if (batch.length) await session.ack(batch.map((m) => m.id));
    } while (!opts.once && !stop.signal.aborted);
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    await session.logout().catch(() => {});
  }
  return 0;
}

async function policyCommand(args: string[], io: Io): Promise<number> {
  const { opts, session } = await ownerSession(
    'policy',
    args,
    ['require-signature', 'open'],
    ['accept'],
  );
  const accept = typeof opts.accept === 'string' ? opts.accept.split(',').filter(Boolean) : null;
  try {
    const policy =
      opts.open || opts['require-signature'] || accept
        ? await session.putPolicy({
            requireSignature: opts['require-signature'] === true,
            acceptFrom: opts.open ? null : accept,
          })
        : await session.getPolicy();
    io.stdout.write(`${JSON.stringify(policy)}\n`);
  } finally {
    await session.logout().catch(() => {});
  }
  return 0;
}

async function keysCommand(args: string[], io: Io): Promise<number> {
  const { session } = await ownerSession('keys', args);
  io.stdout.write(`${JSON.stringify({ count: await session.countPreKeys() })}\n`);
  await session.logout().catch(() => {});
  return 0;
}

async function listen(args: string[], io: Io): Promise<number> {
  const { opts, positional } = parseArgs(args, ['key'], ['json']);
  if (typeof opts.key !== 'string' || positional.length !== 1) {
    throw new UsageError('listen needs --key KEYFILE and one relay URL');
  }
  const keys = readKeyFile(opts.key);
  const conn = connect({
    url: positional[0]!,
    keys,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    onOpen: () => io.stderr.write(`listening on inbox ${keys.id}\n`),
  });
  void io.signal.then(() => conn.close());
  for await (const msg of conn) {
    io.stdout.write(messageLine(msg.data, msg.binary, opts.json === true) + '\n');
  }
  return 0;
}

async function send(args: string[], io: Io): Promise<number> {
  const { opts, positional } = parseArgs(args, ['ttl', 'sign'], ['binary']);
  if (positional.length !== 2)
    throw new UsageError('send needs a URL/ID and a TEXT (or - for stdin)');
  const [url, text] = positional as [string, string];
  const raw = text === '-' ? await readAll(io.stdin) : Buffer.from(text);
  const body: string | Uint8Array = opts.binary ? raw : raw.toString('utf8');
  if (opts.ttl !== undefined && !/^\d+$/.test(String(opts.ttl))) {
    throw new UsageError('--ttl must be a whole number of seconds');
  }
  const result = await post(url, body, {
    ttl: opts.ttl ? Number(opts.ttl) : undefined,
    ...(typeof opts.sign === 'string' ? { sign: readKeyFile(opts.sign) } : {}),
  });
  io.stdout.write(`${JSON.stringify({ message: 'sent', ...result })}\n`);
  return 0;
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case '--help':
      case '-h':
      case 'help':
        io.stdout.write(
          `${USAGE}\n\nSettings (flag, environment variable, default):\n${settingsHelp()}\n  --config <file>\n      NPCHAT_CONFIG; a JSON file with any of the settings above\n`,
        );
        return 0;
      case '--version':
        io.stdout.write(`${VERSION}\n`);
        return 0;
      case 'keygen': {
        const { opts, positional } = parseArgs(rest, ['out'], []);
        if (positional.length) throw new UsageError('keygen takes no arguments');
        const text = JSON.stringify(toKeyFile(generateKeys()), null, 2) + '\n';
        if (typeof opts.out === 'string') {
          writeFileSync(opts.out, text, { mode: 0o600, flag: 'wx' });
          io.stderr.write(`wrote ${opts.out}\n`);
        } else io.stdout.write(text);
        return 0;
      }
      case 'id': {
        if (rest.length !== 1) throw new UsageError('id needs one KEYFILE');
        io.stdout.write(`${readKeyFile(rest[0]!).id}\n`);
        return 0;
      }
      case 'listen':
        return await listen(rest, io);
      case 'login':
        return await login(rest, io);
      case 'fetch':
        return await fetchCommand(rest, io);
      case 'keys':
        return await keysCommand(rest, io);
      case 'policy':
        return await policyCommand(rest, io);
      case 'send':
        return await send(rest, io);
      case 'serve':
        return await serve(rest, io);
      default:
        if (command === undefined || command.startsWith('-')) return await serve(argv, io);
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`npchat-relay: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`npchat-relay: ${err.message}\n`);
      return 2;
    }
    if (err instanceof RelayRequestError || err instanceof RelayConnectionError) {
      // The relay's words: shown, never acted on by the terminal.
      const code = printable(String(err instanceof RelayRequestError ? err.code : err.error));
      io.stderr.write(`npchat-relay: the relay refused: ${code}: ${printable(err.message)}\n`);
      return 1;
    }
    io.stderr.write(`npchat-relay: ${printable((err as Error).message)}\n`);
    return 1;
  }
}
