/**
 * NPCHAT_PERSIST_FILE: the memory store's queue kept across a graceful
 * restart. Written at shutdown atomically (temp file, fsync, rename, fsync of
 * the directory), read at start. Expired messages are dropped on load. A file
 * that cannot be read as a queue is moved aside (`<file>.corrupt-<ms>`) and
 * reported; the relay then starts with an empty queue rather than crash-loop.
 * After a successful load the file is deleted, so a later crash cannot bring
 * back messages that were delivered since.
 *
 * Format (JSON): {"format":"npchat-relay-queue","version":1,"savedAt":ms,
 *   "messages":[{"inbox","id","t","expiresAt","binary","body":"<base64>"}…],
 *   "keys":[{"inbox","key","id","t","expiresAt"}…]}   (idempotency keys)
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../logger.js';
import type { MemorySnapshot } from './memory-store.js';

const FORMAT = 'npchat-relay-queue';

export function saveQueue(path: string, snapshot: MemorySnapshot): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const text = JSON.stringify({
    format: FORMAT,
    version: 1,
    savedAt: Date.now(),
    messages: snapshot.messages.map((m) => ({
      ...m,
      body: Buffer.from(m.body).toString('base64'),
    })),
    keys: snapshot.keys,
  });
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dir = openSync(dirname(path), 'r');
    fsyncSync(dir);
    closeSync(dir);
  } catch {
    // some filesystems cannot fsync a directory; the rename is still atomic
  }
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Parses and checks a saved queue; throws Error with the reason when it is not one. */
function parse(text: string, now: number): MemorySnapshot {
  const doc = JSON.parse(text) as Record<string, unknown>;
  if (doc?.format !== FORMAT || doc.version !== 1)
    throw new Error('not an npchat-relay queue file');
  if (!Array.isArray(doc.messages) || !Array.isArray(doc.keys))
    throw new Error('messages or keys missing');
  const snapshot: MemorySnapshot = { messages: [], keys: [] };
  for (const m of doc.messages as Record<string, unknown>[]) {
    const { inbox, id, t, expiresAt, binary, body } = m ?? {};
    if (
      typeof inbox !== 'string' ||
      typeof id !== 'string' ||
      !/^\d+$/.test(id) ||
      !isNumber(t) ||
      !isNumber(expiresAt) ||
      typeof binary !== 'boolean' ||
      typeof body !== 'string'
    ) {
      throw new Error('a message entry is malformed');
    }
    if (expiresAt <= now) continue;
    snapshot.messages.push({
      inbox,
      id,
      t,
      expiresAt,
      ttlMs: expiresAt - t,
      binary,
      body: Buffer.from(body, 'base64'),
    });
  }
  for (const k of doc.keys as Record<string, unknown>[]) {
    const { inbox, key, id, t, expiresAt } = k ?? {};
    if (
      typeof inbox !== 'string' ||
      typeof key !== 'string' ||
      typeof id !== 'string' ||
      !isNumber(t) ||
      !isNumber(expiresAt)
    ) {
      throw new Error('an idempotency entry is malformed');
    }
    if (expiresAt > now) snapshot.keys.push({ inbox, key, id, t, expiresAt });
  }
  return snapshot;
}

/** Reads the saved queue, or null (no file, or a corrupt one that was moved aside). */
export function loadQueue(path: string, logger: Logger): MemorySnapshot | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return moveAside(path, (err as Error).message, logger);
  }
  let snapshot: MemorySnapshot;
  try {
    snapshot = parse(text, Date.now());
  } catch (err) {
    return moveAside(path, (err as Error).message, logger);
  }
  rmSync(path, { force: true });
  logger.info({ file: path, messages: snapshot.messages.length }, 'queue loaded from persist file');
  return snapshot;
}

function moveAside(path: string, reason: string, logger: Logger): null {
  const aside = `${path}.corrupt-${Date.now()}`;
  try {
    renameSync(path, aside);
    logger.error(
      { file: path, movedTo: aside, reason },
      'persist file is not a readable queue: moved aside, starting with an empty queue',
    );
  } catch (err) {
    logger.error(
      { file: path, reason, renameError: (err as Error).message },
      'persist file is not a readable queue and could not be moved aside; starting with an empty queue',
    );
  }
  return null;
}
