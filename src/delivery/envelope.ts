/** The envelope of a stored message: ack-mode frames (§3.3) and fetched messages (§4). */
import { encodeB64url } from '../client/b64url.js';
import type { StoredMessage } from '../store/store.js';

export interface Envelope {
  id: string;
  t: number;
  /** The body: text, or base64url when `binary`. */
  data: string;
  binary?: true;
  /** Inbox id of the sender of a verified signed post. */
  from?: string;
}

export function toEnvelope(m: StoredMessage): Envelope {
  const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  const env: Envelope = m.binary
    ? { id: m.id, t: m.t, data: encodeB64url(body), binary: true }
    : { id: m.id, t: m.t, data: body.toString('utf8') };
  if (m.from !== undefined) env.from = m.from;
  return env;
}

/** The ack-mode frame of a stored message. */
export function envelope(m: StoredMessage): string {
  return JSON.stringify(toEnvelope(m));
}
