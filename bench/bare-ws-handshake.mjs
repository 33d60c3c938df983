// Floor for the handshake scenario: the same exchange as the relay's over
// `ws` (the upgrade, {"get":"challenge"}, a challenge of the relay's size,
// the solution parsed, {"message":"handshake done"}, the close handshake),
// with no cryptography, no limits and no state. What a handshake costs the
// platform before any key is imported, signature made or verified.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

// The relay's challenge: a 33-byte txt and a 64-byte P-256 signature.
const CHALLENGE = JSON.stringify({
  challenge: {
    txt: randomBytes(33).toString('base64url'),
    sig: randomBytes(64).toString('base64url'),
  },
});
const DONE = '{"message":"handshake done"}';

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: 65536,
  perMessageDeflate: false,
  clientTracking: false,
});
const server = createServer((req, res) => res.writeHead(426).end());
server.on('upgrade', (req, socket, head) =>
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.get === 'challenge') ws.send(CHALLENGE);
      else if (typeof msg.solution === 'string') ws.send(DONE);
      else ws.close(4000);
    });
  }),
);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
