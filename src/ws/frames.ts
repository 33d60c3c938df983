/**
 * Parsing the client frames the relay acts on: the two handshake messages
 * (PROTOCOL.md §3.1) and, in ack mode, `{"ack":[ids]}` (§3.3).
 */
import type { RawData } from 'ws';
import { isSolution, type Solution } from '../auth/handshake.js';
import { RelayError } from '../errors.js';

export type HandshakeFrame =
  { kind: 'challenge' } | { kind: 'solution'; solution: Solution; ack: boolean };

/** Most ids one ack frame may carry; a longer list is ignored as not understood. */
export const MAX_ACK_IDS = 1000;
/** An ack frame longer than this cannot be a valid one, and is ignored without parsing. */
const MAX_ACK_FRAME_BYTES = MAX_ACK_IDS * 70 + 16;

/** A frame before the handshake: one of the two handshake messages, or a `bad_request`. */
export function parseHandshakeFrame(data: RawData, isBinary: boolean): HandshakeFrame {
  if (isBinary) {
    throw new RelayError('bad_request', 'A binary frame is not allowed before the handshake.');
  }
  let msg: unknown;
  try {
    msg = JSON.parse(data.toString());
  } catch {
    throw new RelayError('bad_request', 'The frame is not JSON.');
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    throw new RelayError('bad_request', 'The frame is not a JSON object.');
  }
  const obj = msg as Record<string, unknown>;
  if (obj.get === 'challenge') return { kind: 'challenge' };
  if (!isSolution(obj)) {
    throw new RelayError('bad_request', 'Expected {"get":"challenge"} or a solution.');
  }
  return { kind: 'solution', solution: obj, ack: obj.ack === true };
}

/** The ids of an `{"ack":[…]}` frame, or null for any frame that is not one. */
export function parseAckFrame(data: RawData, isBinary: boolean): string[] | null {
  if (isBinary || rawLength(data) > MAX_ACK_FRAME_BYTES) return null;
  let msg: unknown;
  try {
    msg = JSON.parse(data.toString());
  } catch {
    return null;
  }
  const ids = (msg as { ack?: unknown } | null)?.ack;
  if (!Array.isArray(ids) || ids.length > MAX_ACK_IDS) return null;
  return ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 64)
    ? (ids as string[])
    : null;
}

function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}
