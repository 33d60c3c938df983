/**
 * What an OwnerSocket (and the gateway that makes them) needs, for unit tests:
 * a memory store and a local hub unless given, no rate limits, silent logs.
 */
import { ChallengeKeyring } from '../../src/auth/keyring.js';
import { LocalHub } from '../../src/hub/local-hub.js';
import { createLimits } from '../../src/limits.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/metrics.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { OwnerSocketDeps } from '../../src/ws/owner-socket.js';

const NO_LIMITS = createLimits({
  postRate: 0,
  postBurst: 0,
  inboxRate: 0,
  inboxBurst: 0,
  handshakeRate: 0,
  handshakeBurst: 0,
  authFailures: 0,
  prekeyRate: 0,
  prekeyBurst: 0,
  fetchRate: 0,
  fetchBurst: 0,
});

export function sessionDeps(
  parts: { store?: MemoryStore; hub?: LocalHub; maxBufferedBytes?: number } = {},
): OwnerSocketDeps {
  const store = parts.store ?? new MemoryStore({ cleanPeriodMs: 60_000 });
  return {
    keyring: new ChallengeKeyring({ freshKey: 5, challengeTtlMs: 30_000 }),
    store,
    hub: parts.hub ?? new LocalHub(),
    logger: createLogger('silent'),
    handshakeTimeoutMs: 10_000,
    maxBufferedBytes: parts.maxBufferedBytes ?? 1_000_000,
    leaseMs: 60_000,
    ackWindow: 100,
    limits: NO_LIMITS,
    metrics: new Metrics({ sockets: () => ({}), store }),
    maxSocketsPerInbox: 16,
  };
}
