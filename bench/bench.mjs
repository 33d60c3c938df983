#!/usr/bin/env node
/**
 * npm run bench [-- --quick] [-- --engine memory|redis] [-- --only post,live,...] [-- --docs]
 *
 * Measures the relay against the platform's own limits, in one run, on this
 * machine: the relay (or a baseline server) pinned to core 0 with taskset
 * where available, this load generator on core 1. Prints a table, writes JSON
 * to bench/results/ and an SVG chart (bench/results/chart.svg; with --docs
 * also docs/performance.svg). Never a timed test: CI only runs --quick to
 * check that the bench itself works.
 *
 * Baselines: a bare node:http server that reads the body and answers 200 (the
 * limit for POST), a bare ws forwarder (the limit for live delivery), and raw
 * node:crypto P-256 sign/verify rates (the limit for handshakes).
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { WebSocket } from 'ws';
import { sleep, startRedis, track } from '../scripts/processes.mjs';
import { chart } from './chart.mjs';
import { handshakeOnce } from './handshake-client.mjs';
import { PostPool } from './post-client.mjs';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const DOCS = argv.includes('--docs');
const engineArg = argv.includes('--engine') ? argv[argv.indexOf('--engine') + 1] : 'both';
const ENGINES = engineArg === 'both' ? ['memory', 'redis'] : [engineArg];
const SCENARIOS = ['post', 'live', 'handshakes', 'flush', 'idle', 'workers'];
// --only a,b: just those scenarios (and the baselines they need); no chart is written.
const ONLY = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : SCENARIOS;
for (const name of ONLY) {
  if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario ${name}`);
}
const runs = (name) => ONLY.includes(name);
// --post-rate N: the POST scenario and its baseline at N requests/s in all
// instead of as fast as they go, so CPU per request compares equal work.
const POST_RATE = argv.includes('--post-rate') ? Number(argv[argv.indexOf('--post-rate') + 1]) : 0;
if (!(POST_RATE >= 0)) throw new Error('--post-rate: a number of requests per second');
// --live-rate N: the live levels at 25/50/75 % of N msg/s instead of the
// measured maximum (still measured and printed), so that A/B runs compare
// latency at the same rates.
const LIVE_RATE = argv.includes('--live-rate') ? Number(argv[argv.indexOf('--live-rate') + 1]) : 0;
if (!(LIVE_RATE >= 0)) throw new Error('--live-rate: a number of messages per second');
const ROOT = new URL('..', import.meta.url).pathname;
// NPCHAT_BENCH_MAIN: another build of the relay (say, the previous commit's dist) for an A/B run.
const MAIN = process.env.NPCHAT_BENCH_MAIN ?? join(ROOT, 'dist/main.js');

const P = QUICK
  ? {
      duration: 2,
      handshakes: 300,
      handshakeWarmup: 100,
      flush: 2000,
      idle: 500,
      receivers: 10,
      liveSeconds: 2,
      liveWarmupSeconds: 0.5,
    }
  : {
      duration: 10,
      handshakes: 2000,
      handshakeWarmup: 4000,
      flush: 10000,
      idle: 10000,
      receivers: 20,
      liveSeconds: 5,
      liveWarmupSeconds: 1,
    };

// ---- pinning: this process on core 1, servers on core 0 -------------------
// os.cpus() counts every core; nproc would count only those this process may use.
const CORES = cpus().length;
const TASKSET = CORES >= 2 && hasCommand('taskset');

function hasCommand(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---- processes --------------------------------------------------------------
// NPCHAT_BENCH_NODE_ARGS: node flags for the servers (say, --trace-gc or --cpu-prof).
const NODE_ARGS = (process.env.NPCHAT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
/**
 * Starts a server pinned to core 0, or unpinned: free to run on every core
 * (said to taskset, as this process, pinned to core 1, would otherwise hand
 * its own affinity down); resolves with its port once it says so.
 */
function startServer(args, env = {}, { pinned = true } = {}) {
  const cores = pinned ? '0' : `0-${CORES - 1}`;
  const cmd = TASKSET ? 'taskset' : process.execPath;
  const full = [...(TASKSET ? ['-c', cores, process.execPath] : []), ...NODE_ARGS, ...args];
  const proc = spawn(cmd, full, {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  track(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`no port from ${args.join(' ')}: ${out}`)),
      15000,
    );
    const onData = (c) => {
      out += c;
      const m = /"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        // What the server prints later (say, --trace-gc's lines) goes to our stderr.
        if (NODE_ARGS.length) proc.stdout.pipe(process.stderr);
        else proc.stdout.resume();
        resolve({ proc, port: Number(m[1]), url: `http://127.0.0.1:${m[1]}` });
      }
    };
    proc.stdout.on('data', onData);
  });
}

async function stop(server) {
  if (!server || server.proc.exitCode !== null) return;
  const exited = new Promise((r) => server.proc.once('exit', r));
  server.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(15000)]);
}

const RELAY_ENV = {
  NPCHAT_HOST: '127.0.0.1',
  NPCHAT_PORT: '0',
  NPCHAT_LOG_LEVEL: 'warn',
  NPCHAT_POST_RATE: '0',
  NPCHAT_INBOX_RATE: '0',
  NPCHAT_HANDSHAKE_RATE: '0',
  NPCHAT_AUTH_FAILURES: '0',
  NPCHAT_MAX_CONNECTIONS: '100000',
  NPCHAT_MAX_CONNECTIONS_PER_ADDRESS: '100000',
  NPCHAT_INBOX_MAX_MESSAGES: '1000000',
  NPCHAT_INBOX_MAX_BYTES: '1073741824',
  NPCHAT_STORE_MAX_BYTES: '2147483648',
  NPCHAT_MSG_TTL: '600',
};

function startRelay(engine, redis, extraEnv = {}, options = {}) {
  const env = { ...RELAY_ENV, ...extraEnv };
  if (engine === 'redis') {
    env.NPCHAT_REDIS_URL = redis.url;
    env.NPCHAT_REDIS_PREFIX = `b${randomBytes(4).toString('hex')}:`;
  }
  // The relay logs `"port":N` in its 'listening' line (at info; warn hides it).
  return startServer([MAIN], { ...env, NPCHAT_LOG_LEVEL: 'info' }, options);
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssBytes(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}

// ---- owners: keys and handshakes with node:crypto ---------------------------
function ownerKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
  return {
    privateKey,
    publicKey: raw.toString('base64url'),
    id: createHash('sha256').update(raw).digest('base64url'),
  };
}

/** Opens an authenticated owner socket; frames after 'handshake done' go to onFrame. */
function owner(url, key, { ack = false, onFrame = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/${key.id}`, {
      perMessageDeflate: false,
    });
    let live = false;
    ws.on('error', reject);
    ws.on('open', () => ws.send('{"get":"challenge"}'));
    ws.on('message', (data, binary) => {
      if (live) return onFrame(data, binary, ws);
      const msg = JSON.parse(data.toString());
      if (msg.challenge) {
        const solution = sign('sha256', Buffer.from(msg.challenge.txt, 'base64url'), {
          key: key.privateKey,
          dsaEncoding: 'ieee-p1363',
        }).toString('base64url');
        ws.send(
          JSON.stringify({ publicKey: key.publicKey, challenge: msg.challenge, solution, ack }),
        );
      } else if (msg.message === 'handshake done') {
        live = true;
        resolve(ws);
      } else {
        reject(new Error(`handshake refused: ${data}`));
      }
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
function post(url, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---- scenarios ---------------------------------------------------------------
/**
 * autocannon: 50 keep-alive connections POSTing 1 KiB; paths cycle over
 * `paths`. `warmup` seconds first, not counted (at a fixed rate, 2: the
 * JIT's first seconds would weigh on CPU per request). Besides the server's
 * own CPU it counts this process's (the load generator's) and, with
 * `sidePid`, that process's (Redis): on two cores the generator and Redis
 * share core 1, and their CPU per request bounds what any relay could reach.
 */
async function postLoad(
  server,
  paths,
  { rate = 0, duration = P.duration, warmup = rate > 0 ? 2 : 0, sidePid = 0 } = {},
) {
  const body = 'x'.repeat(1024);
  let i = 0;
  const load = (seconds) =>
    autocannon({
      url: server.url,
      connections: 50,
      duration: seconds,
      ...(rate > 0 ? { overallRate: rate } : {}),
      requests: [
        {
          method: 'POST',
          body,
          setupRequest: (req) => ({ ...req, path: paths[i++ % paths.length] }),
        },
      ],
    });
  if (warmup > 0) await load(warmup);
  const cpu0 = cpuSeconds(server.proc.pid);
  const side0 = sidePid ? cpuSeconds(sidePid) : 0;
  const gen0 = process.cpuUsage();
  const result = await load(duration);
  const cpu = cpuSeconds(server.proc.pid) - cpu0;
  const gen = process.cpuUsage(gen0);
  return {
    generatorCpuSeconds: (gen.user + gen.system) / 1e6,
    sideCpuSeconds: sidePid ? cpuSeconds(sidePid) - side0 : 0,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUsPerReq: (cpu / Math.max(result.requests.total, 1)) * 1e6,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
    cpuSeconds: cpu,
    seconds: duration,
  };
}

/** Runs of postLoad summed: requests/s over their time, CPU per request over their requests. */
function sumPostRuns(runs) {
  const total = runs.reduce((a, r) => a + r.total, 0);
  const cpu = runs.reduce((a, r) => a + r.cpuSeconds, 0);
  const perReq = (key) => (runs.reduce((a, r) => a + r[key], 0) / Math.max(total, 1)) * 1e6;
  return {
    generatorCpuUsPerReq: perReq('generatorCpuSeconds'),
    sideCpuUsPerReq: perReq('sideCpuSeconds'),
    rps: total / runs.reduce((a, r) => a + r.seconds, 0),
    p50: Math.max(...runs.map((r) => r.p50)),
    p99: Math.max(...runs.map((r) => r.p99)),
    cpuUsPerReq: (cpu / Math.max(total, 1)) * 1e6,
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

/**
 * The POST scenario with its baseline measured alongside: the relay and a
 * bare node:http server (both started, the idle one costs nothing) loaded
 * in alternation, bare-relay-relay-bare, P.duration / 2 s each after 2 s
 * of warm-up each. This machine's speed moves within a minute, so a
 * baseline measured minutes before the relay can be another machine's
 * (one run: bare server 28,179 req/s at the start, the relay at a third of
 * it a minute later). The relay's figures, with `baseline` of the same
 * minutes.
 */
async function pairedPost(relay, bare, paths, rate, redis) {
  const rounds = QUICK ? 1 : 2;
  const duration = P.duration / 2;
  await postLoad(bare, paths, { rate, duration: 2, warmup: 0 });
  await postLoad(relay, paths, { rate, duration: 2, warmup: 0 });
  const runs = { bare: [], relay: [] };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? ['bare', 'relay'] : ['relay', 'bare'];
    for (const name of order) {
      const server = name === 'bare' ? bare : relay;
      const sidePid = name === 'relay' && redis ? redis.proc.pid : 0;
      runs[name].push(await postLoad(server, paths, { rate, duration, warmup: 0, sidePid }));
    }
  }
  const base = sumPostRuns(runs.bare);
  const own = sumPostRuns(runs.relay);
  // What core 1 (the generator, and Redis on the Redis engine) spent per
  // relay request: requests/s no relay could pass on this layout.
  const core1Us = own.generatorCpuUsPerReq + own.sideCpuUsPerReq;
  return {
    ...own,
    ...(TASKSET ? { core1Ceiling: 1e6 / core1Us } : {}),
    baseline: {
      rps: base.rps,
      cpuUsPerReq: base.cpuUsPerReq,
      p50: base.p50,
      p99: base.p99,
      generatorCpuUsPerReq: base.generatorCpuUsPerReq,
    },
  };
}

/**
 * 2,000 owners (distinct keys), 100 at a time, each a full handshake and a
 * close, with the lean client of handshake-client.mjs (the ws client cost
 * the generator more CPU than the relay spent). P.handshakeWarmup more run
 * first, with keys of their own, and are not counted (their failures are):
 * the first thousands after a start cost the relay about twice the CPU of
 * later ones, while V8 compiles the relay's and Node's per-connection code.
 */
async function handshakes(server) {
  const { hostname, port } = new URL(server.url);
  const run = async (keys) => {
    let next = 0;
    let ok = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < keys.length) {
          const key = keys[next++];
          try {
            await handshakeOnce(hostname, Number(port), key);
            ok++;
          } catch {
            failed++;
          }
        }
      }),
    );
    return { ok, failed };
  };
  const warmupKeys = Array.from({ length: P.handshakeWarmup }, ownerKey);
  const warmupStarted = process.hrtime.bigint();
  const warmup = await run(warmupKeys);
  const warmupSeconds = Number(process.hrtime.bigint() - warmupStarted) / 1e9;
  const keys = Array.from({ length: P.handshakes }, ownerKey);
  const cpu0 = cpuSeconds(server.proc.pid);
  const own0 = process.cpuUsage();
  const started = process.hrtime.bigint();
  const { ok, failed } = await run(keys);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The relay's own CPU per handshake tells whether it or the generator is the limit.
  const cpuUs = ((cpuSeconds(server.proc.pid) - cpu0) / Math.max(ok, 1)) * 1e6;
  const own = process.cpuUsage(own0);
  return {
    perSecond: ok / seconds,
    failed: failed + warmup.failed,
    cpuUsPerHandshake: cpuUs,
    generatorCpuUsPerHandshake: (own.user + own.system) / Math.max(ok, 1),
    warmup: P.handshakeWarmup,
    // The warm-up's own rate: what a freshly started relay does.
    coldPerSecond: warmup.ok / warmupSeconds,
  };
}

function cryptoRates() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = randomBytes(33);
  const sig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const rate = (fn) => {
    const until = Date.now() + (QUICK ? 300 : 1000);
    let n = 0;
    const t0 = process.hrtime.bigint();
    while (Date.now() < until) {
      fn(n);
      n++;
    }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  // What a relay's handshake does with a key it has not seen: import the
  // point (as a JWK, like src/auth/signature.ts) and verify with it once.
  const owners = Array.from({ length: QUICK ? 500 : 4000 }, () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    // x and y from the SPKI's point: Node 20 can deadlock exporting a JWK
    // while a GC runs key-generation jobs' destructors (seen in this bench).
    const point = pair.publicKey.export({ type: 'spki', format: 'der' }).subarray(-64);
    const coord = (from) => point.subarray(from, from + 32).toString('base64url');
    return {
      jwk: { kty: 'EC', crv: 'P-256', x: coord(0), y: coord(32) },
      sig: sign('sha256', data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }),
    };
  });
  return {
    signPerSecond: rate(() => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    verifyPerSecond: rate(() =>
      verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig),
    ),
    importVerifyPerSecond: rate((n) => {
      const o = owners[n % owners.length];
      const key = createPublicKey({ key: o.jwk, format: 'jwk' });
      if (!verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, o.sig)) throw new Error();
    }),
    keygenPerSecond: rate(() => generateKeyPairSync('ec', { namedCurve: 'P-256' })),
  };
}

async function fill(url, id, n) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        const i = next++;
        const status = await post(`${url}/${id}`, `stored message ${i} `.padEnd(100, '.'));
        if (status !== 200) throw new Error(`fill: ${status}`);
      }
    }),
  );
}

async function flush(server, ack) {
  const key = ownerKey();
  await fill(server.url, key.id, P.flush);
  let got = 0;
  let t0 = 0n;
  let pending = [];
  let done;
  const finished = new Promise((r) => (done = r));
  const ws = await owner(server.url, key, {
    ack,
    onFrame: (data, _binary, sock) => {
      got++;
      if (ack) {
        if (pending.length === 0)
          setImmediate(() => {
            sock.send(JSON.stringify({ ack: pending }));
            pending = [];
          });
        pending.push(JSON.parse(data.toString()).id);
      }
      if (got === P.flush) done();
    },
  });
  t0 = process.hrtime.bigint();
  const cpu0 = cpuSeconds(server.proc.pid);
  await Promise.race([finished, sleep(120000)]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // The relay's CPU share of the drain tells whether it or the reader is the limit.
  const cpuShare = (cpuSeconds(server.proc.pid) - cpu0) / seconds;
  ws.close();
  return { perSecond: got / seconds, got, cpuShare };
}

/**
 * RSS per idle authenticated socket: the marginal cost. A first 200 sockets
 * (kept open, not counted) compile the code paths a socket takes (the Redis
 * client's among them), a fixed cost that is no socket's own; RSS is read
 * before and after the next P.idle.
 */
async function idle(server) {
  const connect = async (n, into) => {
    for (let i = 0; i < n; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, () => owner(server.url, ownerKey())),
      );
      into.push(...batch);
    }
  };
  const warm = [];
  const sockets = [];
  try {
    await connect(Math.min(200, P.idle), warm);
    await sleep(500);
    const before = rssBytes(server.proc.pid);
    await connect(P.idle, sockets);
    await sleep(1500);
    const after = rssBytes(server.proc.pid);
    return { sockets: sockets.length, bytesPerSocket: (after - before) / sockets.length };
  } finally {
    for (const ws of [...warm, ...sockets]) ws.terminate();
  }
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
}

/**
 * Live delivery: receivers read; first the closed-loop maximum, then an open
 * model at 25/50/75 % of it. POSTs go through the lean keep-alive pool of
 * post-client.mjs (node:http's client made the generator the limit); times
 * are performance.now() doubles in typed arrays indexed by a message's
 * sequence number, so that the generator allocates little while it measures.
 */
async function live(server, bare) {
  const { hostname, port } = new URL(server.url);
  const pool = new PostPool(hostname, Number(port), 64);
  let closedReceived = 0;
  // Sequence numbers of the open-model levels, one range per level.
  let capacity = 1 << 16;
  let receivedAt = new Float64Array(capacity);
  const onFrame = (data) => {
    // A body is "c:..." (closed loop) or "<seq>:..." (open model).
    if (data[0] === 0x63) {
      closedReceived++;
      return;
    }
    let seq = 0;
    for (let i = 0; i < data.length && data[i] !== 0x3a; i++) seq = seq * 10 + data[i] - 0x30;
    if (seq < capacity) receivedAt[seq] = performance.now();
  };
  const keys = Array.from({ length: P.receivers }, ownerKey);
  const paths = keys.map((k) => `/${k.id}`);
  const sockets = bare
    ? await Promise.all(
        keys.map(
          (k) =>
            new Promise((resolve, reject) => {
              const ws = new WebSocket(`${server.url.replace('http', 'ws')}/${k.id}`);
              // The first frame is the forwarder's "handshake done"; the rest are messages.
              let ready = false;
              ws.on('message', (d) => {
                if (ready) return onFrame(d);
                ready = true;
                resolve(ws);
              });
              ws.on('error', reject);
            }),
        ),
      )
    : await Promise.all(keys.map((k) => owner(server.url, k, { onFrame })));
  const pad = (head) => head.padEnd(256, 'x');
  const closedBody = pad('c:');
  // Closed loop: 32 senders as fast as they go.
  const until = Date.now() + P.liveSeconds * 1000;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from(
      { length: 32 },
      () =>
        new Promise((resolve) => {
          const send = () => {
            if (Date.now() >= until) return resolve();
            pool.post(paths[next++ % paths.length], closedBody, send);
          };
          send();
        }),
    ),
  );
  await sleep(200);
  const max = closedReceived / ((performance.now() - t0) / 1000);
  const levels = {};
  let seqBase = 0;
  for (const fraction of [0.25, 0.5, 0.75]) {
    const rate = (LIVE_RATE || max) * fraction;
    // The level's first second is sent and checked for loss but not timed:
    // after the pause between levels, the first ~100 ms showed several-ms
    // latencies for the bare forwarder and the relay alike (the machine
    // waking up), which is not what a steady load at this rate sees.
    const warm = Math.floor(rate * P.liveWarmupSeconds);
    const n = warm + Math.floor(rate * P.liveSeconds);
    const base = seqBase;
    seqBase += n;
    if (seqBase > capacity) {
      while (seqBase > capacity) capacity *= 2;
      const grown = new Float64Array(capacity);
      grown.set(receivedAt);
      receivedAt = grown;
    }
    /** The POST's status per message (0: not answered yet, 1: the request failed). */
    const statuses = new Uint16Array(n);
    const dueAt = new Float64Array(n);
    const start = performance.now() + 10;
    let i = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (i < n && start + (i / rate) * 1000 <= now) {
          const k = i;
          // Latency counts from when the message was due, not when it went out.
          dueAt[k] = start + (k / rate) * 1000;
          pool.post(paths[k % paths.length], pad(`${base + k}:`), (status) => {
            statuses[k] = status || 1;
          });
          i++;
        }
        if (i < n) setImmediate(tick);
        else resolve();
      };
      tick();
    });
    await sleep(1000);
    const latencies = [];
    let refused = 0;
    let unanswered = 0;
    for (let k = 0; k < n; k++) {
      const got = receivedAt[base + k];
      if (got) {
        if (k >= warm) latencies.push(got - dueAt[k]);
      }
      // A refused POST (503 and the like: the sender retries) was never promised.
      else if (statuses[k] === 200) latencies.push(Infinity);
      else if (statuses[k] === 0) unanswered++;
      else refused++;
    }
    latencies.sort((a, b) => a - b);
    levels[`${fraction * 100}%`] = {
      rate: Math.round(rate),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      p999: percentile(latencies, 0.999),
      lost: latencies.filter((l) => l === Infinity).length,
      refused,
      unanswered,
    };
  }
  for (const ws of sockets) ws.terminate();
  pool.close();
  return { maxPerSecond: max, levels };
}

// ---- main --------------------------------------------------------------------
async function main() {
  const started = new Date();
  const results = {
    date: started.toISOString(),
    quick: QUICK,
    postRate: POST_RATE || null,
    liveRate: LIVE_RATE || null,
    machine: {
      cores: CORES,
      cpu:
        (/model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8')) ?? [])[1] ?? 'unknown',
      node: process.version,
      pinned: TASKSET,
    },
    baselines: {},
    engines: {},
  };
  const log = (s) => console.error(`bench: ${s}`);
  const paths = Array.from({ length: 1000 }, () => `/${ownerKey().id}`);

  let s;
  if (runs('handshakes')) {
    log('baseline: raw node:crypto P-256');
    results.baselines.crypto = cryptoRates();
    log('baseline: bare ws handshake (no cryptography)');
    s = await startServer([join(ROOT, 'bench/bare-ws-handshake.mjs')]);
    results.baselines.wsHandshake = await handshakes(s);
    await stop(s);
    // Stored, so that medians over runs come from the results files alone.
    const floor = handshakeFloor(results.baselines);
    results.baselines.handshakeFloor = {
      cpuUsPerHandshake: floor.us,
      cryptoUs: floor.cryptoUs,
      perSecond: 1e6 / floor.us,
      ofRawVerify: 1e6 / floor.us / results.baselines.crypto.verifyPerSecond,
    };
  }
  if (runs('post') || runs('workers')) {
    log('baseline: bare node:http');
    s = await startServer([join(ROOT, 'bench/bare-http.mjs')]);
    results.baselines.http = await postLoad(s, paths, { rate: POST_RATE });
    await stop(s);
  }
  if (runs('live')) {
    log('baseline: bare ws forwarder');
    s = await startServer([join(ROOT, 'bench/bare-ws.mjs')]);
    results.baselines.ws = await live(s, true);
    await stop(s);
  }

  const redis = ENGINES.includes('redis') ? await startRedis() : null;
  for (const engine of ENGINES) {
    const r = {};
    results.engines[engine] = r;
    if (runs('post')) {
      log(`${engine}: POST 1 KiB to offline inboxes, alternating with a bare node:http server`);
      s = await startRelay(engine, redis);
      const bare = await startServer([join(ROOT, 'bench/bare-http.mjs')]);
      r.post = await pairedPost(s, bare, paths, POST_RATE, engine === 'redis' ? redis : null);
      await stop(bare);
      await stop(s);
    }
    if (runs('live')) {
      log(`${engine}: live delivery`);
      s = await startRelay(engine, redis);
      r.live = await live(s, false);
      await stop(s);
    }
    if (runs('handshakes')) {
      log(`${engine}: handshakes`);
      s = await startRelay(engine, redis, { NPCHAT_FRESHKEY: '5' });
      r.handshakes = await handshakes(s);
      await stop(s);
    }
    if (runs('flush')) {
      log(`${engine}: flush`);
      s = await startRelay(engine, redis);
      r.flushLegacy = await flush(s, false);
      r.flushAck = await flush(s, true);
      await stop(s);
    }
    if (runs('idle')) {
      log(`${engine}: idle sockets`);
      s = await startRelay(engine, redis);
      r.idle = await idle(s);
      await stop(s);
    }
  }
  if (redis && runs('workers')) {
    log('redis: workers 1 and 2 (unpinned, same conditions)');
    const w = {};
    for (const n of [1, 2]) {
      s = await startRelay('redis', redis, { NPCHAT_WORKERS: String(n) }, { pinned: false });
      await sleep(1000);
      w[n] = (await postLoad(s, paths)).rps;
      await stop(s);
    }
    results.workers = { one: w[1], two: w[2], ratio: w[2] / w[1] };
  }

  print(results);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `${stamp}.json`), JSON.stringify(results, null, 2));
  if (ONLY.length === SCENARIOS.length) {
    writeFileSync(join(dir, 'latest.json'), JSON.stringify(results, null, 2));
    writeFileSync(join(dir, 'chart.svg'), chart(results));
    if (DOCS) copyFileSync(join(dir, 'chart.svg'), join(ROOT, 'docs/performance.svg'));
    log(`results: bench/results/${stamp}.json, chart: bench/results/chart.svg`);
  } else {
    log(`results: bench/results/${stamp}.json (partial run: no chart)`);
  }
  agent.destroy();
  process.exit(0);
}

function print(r) {
  const b = r.baselines;
  const f = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : String(n));
  const rows = [];
  if (b.http)
    rows.push([
      'baseline',
      'bare node:http POST',
      `${f(b.http.rps)} req/s`,
      `p50 ${b.http.p50} ms, p99 ${b.http.p99} ms, ${f(b.http.cpuUsPerReq, 1)} µs CPU/req`,
    ]);
  if (b.ws)
    rows.push([
      'baseline',
      'bare ws forwarder',
      `${f(b.ws.maxPerSecond)} msg/s`,
      levels(b.ws.levels),
    ]);
  if (b.crypto)
    rows.push([
      'baseline',
      'P-256 sign / verify',
      `${f(b.crypto.signPerSecond)} / ${f(b.crypto.verifyPerSecond)} per s`,
      `import+verify a new key ${f(b.crypto.importVerifyPerSecond)}/s, key pair ${f(b.crypto.keygenPerSecond)}/s`,
    ]);
  if (b.wsHandshake) {
    const floor = b.handshakeFloor;
    rows.push([
      'baseline',
      'bare ws handshake',
      `${f(b.wsHandshake.perSecond)} /s`,
      `no cryptography: ${f(b.wsHandshake.cpuUsPerHandshake)} µs CPU each, generator ${f(b.wsHandshake.generatorCpuUsPerHandshake)}; with the relay's cryptography (${f(floor.cryptoUs)} µs) at best ${f(floor.perSecond)}/s = ${f(floor.ofRawVerify, 3)} of raw verify`,
    ]);
  }
  for (const [engine, e] of Object.entries(r.engines)) {
    if (e.post)
      rows.push([
        engine,
        'POST 1 KiB offline',
        `${f(e.post.rps)} req/s (${f(e.post.rps / e.post.baseline.rps, 2)}x)`,
        `p50 ${e.post.p50} ms, p99 ${e.post.p99} ms, ${f(e.post.cpuUsPerReq, 1)} µs CPU/req (${f(e.post.cpuUsPerReq / e.post.baseline.cpuUsPerReq, 2)}x); bare server alongside ${f(e.post.baseline.rps)} req/s, ${f(e.post.baseline.cpuUsPerReq, 1)} µs; non-2xx ${e.post.non2xx}`,
      ]);
    if (e.post?.core1Ceiling)
      rows.push([
        engine,
        '  core 1 per request',
        `at most ${f(e.post.core1Ceiling)} req/s (${f(e.post.core1Ceiling / e.post.baseline.rps, 2)}x)`,
        `generator ${f(e.post.generatorCpuUsPerReq, 1)} µs${e.post.sideCpuUsPerReq ? ` + Redis ${f(e.post.sideCpuUsPerReq, 1)} µs` : ''} per request (generator ${f(e.post.baseline.generatorCpuUsPerReq, 1)} µs per bare request)`,
      ]);
    if (e.live)
      rows.push([
        engine,
        'live delivery',
        `${f(e.live.maxPerSecond)} msg/s (${f(e.live.maxPerSecond / b.ws.maxPerSecond, 2)}x)`,
        levels(e.live.levels),
      ]);
    if (e.handshakes)
      rows.push([
        engine,
        'handshakes (freshKey 5)',
        `${f(e.handshakes.perSecond)} /s`,
        `failures ${e.handshakes.failed}, ${f(e.handshakes.perSecond / b.crypto.verifyPerSecond, 3)} of raw verify, relay ${f(e.handshakes.cpuUsPerHandshake)} µs CPU each, generator ${f(e.handshakes.generatorCpuUsPerHandshake)}; first ${e.handshakes.warmup} after start (uncounted): ${f(e.handshakes.coldPerSecond)} /s`,
      ]);
    if (e.flushLegacy)
      rows.push([
        engine,
        'flush legacy / ack',
        `${f(e.flushLegacy.perSecond)} / ${f(e.flushAck.perSecond)} msg/s`,
        `relay busy ${f(e.flushLegacy.cpuShare * 100)} % / ${f(e.flushAck.cpuShare * 100)} % of a core`,
      ]);
    if (e.idle)
      rows.push([
        engine,
        'idle sockets',
        `${f(e.idle.bytesPerSocket / 1024, 1)} KiB RSS/socket`,
        `${e.idle.sockets} sockets`,
      ]);
  }
  if (r.workers)
    rows.push([
      'redis',
      'workers 2 vs 1 (POST)',
      `${f(r.workers.two)} vs ${f(r.workers.one)} req/s`,
      `${f(r.workers.ratio, 2)}x`,
    ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length)));
  console.log(
    `npchat-relay bench ${r.date}${r.quick ? ' (quick)' : ''}${r.postRate ? `, POST at ${r.postRate}/s` : ''}${r.liveRate ? `, live levels of ${r.liveRate}/s` : ''}: ${r.machine.cores} cores, ${r.machine.cpu}, node ${r.machine.node}, pinned ${r.machine.pinned}`,
  );
  for (const row of rows)
    console.log(row.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c)).join('  '));
}

/**
 * The least CPU a handshake can cost on this machine: the bare ws exchange
 * plus the relay's cryptography (import the owner's point and verify its
 * solution, sign the challenge, a key pair every 5 challenges at freshKey 5).
 */
function handshakeFloor(b) {
  const c = b.crypto;
  const cryptoUs =
    1e6 / c.importVerifyPerSecond + 1e6 / c.signPerSecond + 1e6 / c.keygenPerSecond / 5;
  return { cryptoUs, us: b.wsHandshake.cpuUsPerHandshake + cryptoUs };
}

function levels(l) {
  return Object.entries(l)
    .map(
      ([k, v]) =>
        `${k} (${v.rate}/s): p50 ${v.p50.toFixed(2)} p99 ${v.p99.toFixed(2)} p99.9 ${v.p999.toFixed(2)} ms${v.lost ? `, ${v.lost} lost` : ''}${v.refused ? `, ${v.refused} refused` : ''}${v.unanswered ? `, ${v.unanswered} unanswered` : ''}`,
    )
    .join('; ');
}

// Last, so that every declaration above is initialised before main() runs.
if (TASKSET && !process.env.BENCH_PINNED) {
  const child = spawn(
    'taskset',
    ['-c', '1', process.execPath, '--max-semi-space-size=64', ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, BENCH_PINNED: '1' },
    },
  );
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
