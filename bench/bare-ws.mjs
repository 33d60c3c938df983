// Baseline for live delivery: POST /{id} is written to the WebSocket open on
// /{id} (no auth, no store), and answered 200 once the frame was written.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const sockets = new Map();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const ws = sockets.get(req.url);
    const answer = () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 16 });
      res.end('{"message":"ok"}');
    };
    if (ws) ws.send(Buffer.concat(chunks).toString(), answer);
    else answer();
  });
});
server.on('upgrade', (req, socket, head) =>
  wss.handleUpgrade(req, socket, head, (ws) => {
    sockets.set(req.url, ws);
    ws.send('{"message":"handshake done"}');
    ws.on('close', () => sockets.delete(req.url));
  }),
);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
