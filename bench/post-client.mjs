/**
 * A lean HTTP/1.1 POST client over raw keep-alive TCP sockets, for the live
 * delivery scenario. node:http's client (an Agent, a ClientRequest and an
 * IncomingMessage per request, a promise around them) cost the load
 * generator about as much CPU per message as the relay spends on it, so at
 * half of the "maximum" the generator was itself near saturation and its own
 * queueing showed up as the relay's latency, for the bare forwarder and the
 * relay alike. This pool writes each request as one string and reads only
 * the status line and Content-Length of the answer.
 *
 * One request at a time per connection (no pipelining); a request that finds
 * every connection busy waits in a FIFO, and that wait counts in the latency
 * the scenario measures (it times from when a message was due).
 */
import { connect } from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');
/**
 * Node's servers close a keep-alive connection after 5 s idle; a request
 * written just as that happens is lost with the connection. As HTTP clients
 * do (undici: the server's keep-alive timeout less a second), a connection
 * idle for this long is closed rather than reused.
 */
const IDLE_REUSE_MS = 4000;
const CONTENT_LENGTH = 'content-length:';

class Connection {
  constructor(pool) {
    this.pool = pool;
    /** The callback of the request in flight, or null when idle. */
    this.done = null;
    this.buf = null;
    this.closing = false;
    /** When it last became free (performance.now()). */
    this.idleSince = 0;
    this.sock = connect(pool.port, pool.host);
    this.sock.setNoDelay(true);
    this.sock.on('data', (chunk) => this.onData(chunk));
    this.sock.on('error', () => {});
    this.sock.on('close', () => this.onClose());
  }

  send(path, body) {
    this.sock.write(
      `POST ${path} HTTP/1.1\r\nHost: ${this.pool.hostHeader}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  onData(chunk) {
    const buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    const end = buf.indexOf(HEAD_END);
    if (end < 0) {
      this.buf = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end).toLowerCase();
    const at = head.indexOf(CONTENT_LENGTH);
    const length = at < 0 ? 0 : parseInt(head.slice(at + CONTENT_LENGTH.length), 10);
    if (buf.length < end + 4 + length) {
      this.buf = buf;
      return;
    }
    this.buf = null;
    if (buf.length > end + 4 + length || !this.done) {
      // Bytes nobody asked for: this client never pipelines, so the stream is broken.
      this.sock.destroy();
      return;
    }
    if (head.includes('\r\nconnection: close')) this.closing = true;
    const done = this.done;
    this.done = null;
    done(parseInt(head.slice(9, 12), 10));
    if (this.closing) this.sock.end();
    else this.pool.idle(this);
  }

  onClose() {
    this.pool.lost(this);
    const done = this.done;
    this.done = null;
    if (done) done(0);
  }
}

export class PostPool {
  /** At most `size` connections to host:port. */
  constructor(host, port, size) {
    this.host = host;
    this.port = port;
    this.hostHeader = `${host}:${port}`;
    this.size = size;
    this.open = new Set();
    this.free = [];
    this.waiting = [];
    this.waitingAt = 0;
  }

  /** POSTs `body` to `path`; `done(status)` once answered (status 0: the connection was lost). */
  post(path, body, done) {
    let conn = this.free.pop();
    while (conn && performance.now() - conn.idleSince > IDLE_REUSE_MS) {
      this.retire(conn);
      conn = this.free.pop();
    }
    if (!conn && this.open.size < this.size) {
      conn = new Connection(this);
      this.open.add(conn);
    }
    if (!conn) {
      this.waiting.push(path, body, done);
      return;
    }
    conn.done = done;
    conn.send(path, body);
  }

  idle(conn) {
    if (this.waitingAt < this.waiting.length) {
      const w = this.waiting;
      const i = this.waitingAt;
      this.waitingAt += 3;
      if (this.waitingAt === w.length) {
        this.waiting = [];
        this.waitingAt = 0;
      }
      conn.done = w[i + 2];
      conn.send(w[i], w[i + 1]);
    } else {
      conn.idleSince = performance.now();
      this.free.push(conn);
    }
  }

  /** Closes an idle connection; a new one may take its place at once. */
  retire(conn) {
    this.open.delete(conn);
    conn.closing = true;
    conn.sock.end();
  }

  lost(conn) {
    this.open.delete(conn);
    const at = this.free.indexOf(conn);
    if (at >= 0) this.free.splice(at, 1);
    // A request waiting for a connection gets a new one.
    if (this.waitingAt < this.waiting.length && this.open.size < this.size) {
      const fresh = new Connection(this);
      this.open.add(fresh);
      this.idle(fresh);
    }
  }

  close() {
    for (const conn of this.open) conn.sock.destroy();
  }
}
