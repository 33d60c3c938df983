/**
 * NPCHAT_PERSIST_FILE: the memory store's queue kept across a graceful
 * restart. Written at shutdown one record at a time (so a queue of any size
 * the store bound allows fits: nothing is ever one string), atomically (temp
 * file, fsync, rename, fsync of the directory); read at start line by line.
 * Expired messages are dropped on load. A file that cannot be read is moved
 * aside (`<file>.corrupt-<ms>`) and reported; whatever it held up to the
 * unreadable line is kept, and the relay starts rather than crash-loop.
 * After a load the file is deleted, so a later crash cannot bring back
 * messages that were delivered since.
 *
 * Format (version 2, JSON lines):
 *   {"format":"npchat-relay-queue","version":2,"savedAt":ms}
 *   {"m":{"inbox","id","t","expiresAt","binary","body":"<base64>"[,"from"]}}   one per message
 *   {"k":{"inbox","key","id","t","expiresAt"}}                        one per idempotency key
 * Version 1 (one JSON document with "messages" and "keys" arrays) is still read.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { isInboxId } from '../auth/ids.js';
import type { Logger } from '../logger.js';
import type { MemorySnapshot, MemoryStore } from './memory-store.js';
import type { StoredMessage } from './store.js';

const FORMAT = 'npchat-relay-queue';
const WRITE_CHUNK = 1 << 20;

type SavedMessage = StoredMessage & { inbox: string };
type SavedKey = MemorySnapshot['keys'][number];

/** Writes the store's queue to `path`; returns how many messages it holds. */
export function saveQueue(path: string, store: MemoryStore): number {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'w', 0o600);
  let messages = 0;
  try {
    let pending: string[] = [];
    let size = 0;
    const put = (line: string) => {
      pending.push(line);
      size += line.length;
      if (size >= WRITE_CHUNK) flush();
    };
    const flush = () => {
      writeSync(fd, pending.join(''));
      pending = [];
      size = 0;
    };
    put(JSON.stringify({ format: FORMAT, version: 2, savedAt: Date.now() }) + '\n');
    for (const entry of store.entries()) {
      if (entry.kind === 'message') {
        const m = entry.value;
        messages++;
        put(JSON.stringify({ m: { ...m, body: Buffer.from(m.body).toString('base64') } }) + '\n');
      } else {
        put(JSON.stringify({ k: entry.value }) + '\n');
      }
    }
    flush();
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dir = openSync(dirname(path), 'r');
    fsyncSync(dir);
    closeSync(dir);
  } catch {
    // some filesystems cannot fsync a directory; the rename is still atomic
  }
  return messages;
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function parseMessage(m: unknown): SavedMessage {
  const { inbox, id, t, expiresAt, binary, body, from } = (m ?? {}) as Record<string, unknown>;
  if (
    typeof inbox !== 'string' ||
    typeof id !== 'string' ||
    !/^\d+$/.test(id) ||
    !isNumber(t) ||
    !isNumber(expiresAt) ||
    typeof binary !== 'boolean' ||
    typeof body !== 'string' ||
    (from !== undefined && (typeof from !== 'string' || !isInboxId(from)))
  ) {
    throw new Error('a message entry is malformed');
  }
  const bytes = Buffer.from(body, 'base64');
  const saved: SavedMessage = {
    inbox,
    id,
    t,
    expiresAt,
    ttlMs: expiresAt - t,
    binary,
    body: bytes,
  };
  if (from !== undefined) saved.from = from as string;
  return saved;
}

function parseKey(k: unknown): SavedKey {
  const { inbox, key, id, t, expiresAt } = (k ?? {}) as Record<string, unknown>;
  if (
    typeof inbox !== 'string' ||
    typeof key !== 'string' ||
    typeof id !== 'string' ||
    !isNumber(t) ||
    !isNumber(expiresAt)
  ) {
    throw new Error('an idempotency entry is malformed');
  }
  return { inbox, key, id, t, expiresAt };
}

/**
 * Loads the saved queue into `store`. Returns how many messages it added
 * (0 without a file). A file that stops being readable is moved aside.
 */
export async function loadQueue(path: string, store: MemoryStore, logger: Logger): Promise<number> {
  const now = Date.now();
  let loaded = 0;
  const add = (m: SavedMessage) => {
    if (m.expiresAt <= now) return;
    store.restoreMessage(m);
    loaded++;
  };
  const addKey = (k: SavedKey) => {
    if (k.expiresAt > now) store.restoreKey(k);
  };
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      const doc = JSON.parse(text) as Record<string, unknown>;
      if (line === 1) {
        if (doc?.format !== FORMAT) throw new Error('not an npchat-relay queue file');
        if (doc.version === 1) {
          if (!Array.isArray(doc.messages) || !Array.isArray(doc.keys)) {
            throw new Error('messages or keys missing');
          }
          // Checked whole before anything is added, as version 1 always was.
          const messages = doc.messages.map(parseMessage);
          const keys = doc.keys.map(parseKey);
          messages.sort((a, b) => a.id.length - b.id.length || (a.id < b.id ? -1 : 1));
          messages.forEach(add);
          keys.forEach(addKey);
        } else if (doc.version !== 2) {
          throw new Error(`unknown version ${JSON.stringify(doc.version)}`);
        }
        continue;
      }
      if ('m' in doc) add(parseMessage(doc.m));
      else if ('k' in doc) addKey(parseKey(doc.k));
      else throw new Error(`line ${line} is neither a message nor a key`);
    }
  } catch (err) {
    lines.close();
    input.destroy();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    moveAside(path, `${(err as Error).message} (line ${line})`, loaded, logger);
    return loaded;
  }
  if (line === 0) {
    moveAside(path, 'the file is empty', 0, logger);
    return 0;
  }
  rmSync(path, { force: true });
  logger.info({ file: path, messages: loaded }, 'queue loaded from persist file');
  return loaded;
}

function moveAside(path: string, reason: string, kept: number, logger: Logger): void {
  const aside = `${path}.corrupt-${Date.now()}`;
  try {
    renameSync(path, aside);
    logger.error(
      { file: path, movedTo: aside, reason, kept },
      'persist file is not a readable queue: moved aside, keeping the messages read before the fault',
    );
  } catch (err) {
    logger.error(
      { file: path, reason, kept, renameError: (err as Error).message },
      'persist file is not a readable queue and could not be moved aside',
    );
  }
}
