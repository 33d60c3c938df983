/**
 * A lean owner handshake over a raw TCP socket, for the handshake scenario:
 * the `ws` client costs the load generator more CPU per handshake than the
 * relay spends on it, so with it the bench measured the generator. This one
 * does only what the protocol needs: the HTTP upgrade (101 checked, and the
 * Sec-WebSocket-Accept of RFC 6455 §4.1), masked client frames (§5.3), the
 * challenge, the signed solution, "handshake done", then a close frame and
 * the server's close frame back, as a real client closes.
 */
import { createHash, randomBytes, sign } from 'node:crypto';
import { connect } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = randomBytes(16).toString('base64');
const ACCEPT = createHash('sha1')
  .update(KEY + GUID)
  .digest('base64');
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** A masked client frame (FIN set) with `opcode` (1 text, 8 close). */
function frame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? 6 : 8;
  const out = Buffer.allocUnsafe(head + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  }
  const mask = out.subarray(head - 4, head);
  mask.writeInt32LE((Math.random() * 0x100000000) | 0);
  for (let i = 0; i < len; i++) out[head + i] = payload[i] ^ mask[i & 3];
  return out;
}

const CHALLENGE_FRAME = Buffer.from('{"get":"challenge"}');
const CLOSE_PAYLOAD = Buffer.from([0x03, 0xe8]); // 1000, normal closure

/**
 * Runs one handshake for `key` ({ id, publicKey (b64url), privateKey }) on
 * host:port. Resolves once the socket is closed after "handshake done";
 * rejects with the reason otherwise.
 */
export function handshakeOnce(host, port, key) {
  return new Promise((resolve, reject) => {
    const sock = connect(port, host);
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let done = false;
    const timer = setTimeout(() => fail(new Error('handshake timed out')), HANDSHAKE_TIMEOUT_MS);
    function fail(err) {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    }
    sock.on('error', fail);
    sock.on('close', () => {
      clearTimeout(timer);
      if (done) resolve();
      else reject(new Error('closed before "handshake done"'));
    });
    sock.on('connect', () => {
      sock.write(
        `GET /${key.id} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    /** A text frame from the server (unmasked, unfragmented: all the relay sends here). */
    function onText(text) {
      if (done) return;
      const msg = JSON.parse(text);
      if (msg.challenge) {
        const solution = sign('sha256', Buffer.from(msg.challenge.txt, 'base64url'), {
          key: key.privateKey,
          dsaEncoding: 'ieee-p1363',
        }).toString('base64url');
        const body = JSON.stringify({
          publicKey: key.publicKey,
          challenge: msg.challenge,
          solution,
        });
        sock.write(frame(1, Buffer.from(body)));
      } else if (msg.message === 'handshake done') {
        done = true;
        sock.write(frame(8, CLOSE_PAYLOAD));
      } else {
        fail(new Error(`handshake refused: ${text}`));
      }
    }
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101') || !head.includes(ACCEPT)) {
          return fail(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        sock.write(frame(1, CHALLENGE_FRAME));
      }
      while (buf.length >= 2) {
        const opcode = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          return fail(new Error('unexpected 64-bit frame length'));
        }
        if (buf.length < at + len) return;
        const payload = buf.subarray(at, at + len);
        buf = buf.subarray(at + len);
        if (opcode === 1) onText(payload.toString());
        else if (opcode === 8) {
          // The server's close frame: the close handshake is complete.
          sock.end();
          return;
        }
      }
    });
  });
}
