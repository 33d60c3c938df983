/**
 * The embedded engine of the owner state: maps in this process, bounded by
 * `maxBytes` in all (each entry charged its strings plus a fixed overhead);
 * a write that would pass the bound is refused with 503. Expired tokens and
 * marks are swept every `sweepMs`. Nothing survives a restart: owners log in
 * and publish their keys again.
 */
import { RelayError } from '../errors.js';
import { SlicedPass, SWEEP_UNITS } from '../sliced.js';
import {
  noBundle,
  tooManyPrekeys,
  type BlobName,
  type Blobs,
  type Bundle,
  type HandedBundle,
  type OnceGuard,
  type OwnerState,
  type PreKey,
  type Prekeys,
  type Tokens,
} from './state.js';

/** Bytes charged per entry beyond its strings (map entry, object, bookkeeping). */
const OVERHEAD = 150;

const size = (s: string) => s.length * 2 + OVERHEAD;
const preKeysSize = (keys: readonly PreKey[]) => keys.reduce((n, k) => n + size(k.publicKey), 0);
const bundleSize = (b: Bundle) =>
  size(b.identityKey) + size(b.signedPreKey.publicKey) + size(b.signedPreKey.signature);

/** The one byte bound every part of the memory owner state charges. */
class Budget {
  bytes = 0;
  constructor(private readonly maxBytes: number) {}

  /** Charges `n` bytes (a negative `n` gives back), refusing to pass the bound. */
  charge(n: number): void {
    if (n > 0 && this.bytes + n > this.maxBytes) {
      throw new RelayError('unavailable', 'The relay holds as much owner data as it can.', {
        'Retry-After': '60',
      });
    }
    this.bytes += n;
  }
}

class MemoryTokens implements Tokens {
  private readonly map = new Map<string, { inbox: string; expiresAt: number }>();
  constructor(
    private readonly budget: Budget,
    private readonly now: () => number,
  ) {}

  async save(hash: string, inbox: string, ttlMs: number): Promise<void> {
    if (!this.map.has(hash)) this.budget.charge(size(hash) + size(inbox));
    this.map.set(hash, { inbox, expiresAt: this.now() + ttlMs });
  }

  async inboxOf(hash: string): Promise<string | null> {
    const entry = this.map.get(hash);
    return entry && entry.expiresAt > this.now() ? entry.inbox : null;
  }

  async revoke(hash: string): Promise<void> {
    const entry = this.map.get(hash);
    if (!entry) return;
    this.map.delete(hash);
    this.budget.charge(-(size(hash) + size(entry.inbox)));
  }

  /** Sweep steps (SlicedPass): one per token. */
  *sweepSteps(now: () => number): Generator<number, void, undefined> {
    for (const [hash, entry] of this.map) {
      if (entry.expiresAt <= now()) void this.revoke(hash);
      yield 1;
    }
  }
}

class MemoryOnce implements OnceGuard {
  private readonly marks = new Map<string, number>();
  constructor(
    private readonly budget: Budget,
    private readonly now: () => number,
  ) {}

  async first(inbox: string, key: string, ttlMs: number): Promise<boolean> {
    const k = `${inbox} ${key}`;
    const until = this.marks.get(k);
    const now = this.now();
    if (until !== undefined && until > now) return false;
    if (until === undefined) this.budget.charge(size(k));
    this.marks.set(k, now + ttlMs);
    return true;
  }

  async forget(inbox: string, key: string): Promise<void> {
    const k = `${inbox} ${key}`;
    if (this.marks.delete(k)) this.budget.charge(-size(k));
  }

  /** Sweep steps (SlicedPass): one per mark. */
  *sweepSteps(now: () => number): Generator<number, void, undefined> {
    for (const [k, until] of this.marks) {
      if (until <= now()) {
        this.marks.delete(k);
        this.budget.charge(-size(k));
      }
      yield 1;
    }
  }
}

class MemoryPrekeys implements Prekeys {
  private readonly map = new Map<string, { bundle: Bundle; preKeys: PreKey[]; bytes: number }>();
  constructor(private readonly budget: Budget) {}

  async put(inbox: string, bundle: Bundle, preKeys: readonly PreKey[]): Promise<void> {
    const bytes = bundleSize(bundle) + preKeysSize(preKeys);
    this.budget.charge(bytes - (this.map.get(inbox)?.bytes ?? 0));
    this.map.set(inbox, { bundle, preKeys: [...preKeys], bytes });
  }

  async add(inbox: string, preKeys: readonly PreKey[], max: number): Promise<number> {
    const entry = this.map.get(inbox);
    if (!entry) throw noBundle();
    if (entry.preKeys.length + preKeys.length > max) throw tooManyPrekeys(max);
    const bytes = preKeysSize(preKeys);
    this.budget.charge(bytes);
    entry.preKeys.push(...preKeys);
    entry.bytes += bytes;
    return entry.preKeys.length;
  }

  async take(inbox: string): Promise<HandedBundle | null> {
    const entry = this.map.get(inbox);
    if (!entry) return null;
    const preKey = entry.preKeys.shift() ?? null;
    if (preKey) {
      entry.bytes -= size(preKey.publicKey);
      this.budget.charge(-size(preKey.publicKey));
    }
    return { ...entry.bundle, preKey };
  }

  async count(inbox: string): Promise<number> {
    return this.map.get(inbox)?.preKeys.length ?? 0;
  }
}

class MemoryBlobs implements Blobs {
  private readonly map = new Map<string, string>();
  constructor(private readonly budget: Budget) {}

  async put(inbox: string, name: BlobName, value: string): Promise<void> {
    const k = `${inbox} ${name}`;
    const old = this.map.get(k);
    this.budget.charge(size(value) - (old === undefined ? -size(k) : size(old)));
    this.map.set(k, value);
  }

  async get(inbox: string, name: BlobName): Promise<string | null> {
    return this.peek(inbox, name);
  }

  /** The same read, synchronous (the memory store's reserve folds the policy in). */
  peek(inbox: string, name: BlobName): string | null {
    return this.map.get(`${inbox} ${name}`) ?? null;
  }
}

export interface MemoryOwnerOptions {
  /** Bound of the whole owner state in bytes. */
  maxBytes: number;
  sweepMs?: number;
  now?: () => number;
  /** Told if a step of the periodic sweep throws (that sweep ends; the next runs as planned). */
  onSweepError?: (err: unknown) => void;
}

export function createMemoryOwnerState(options: MemoryOwnerOptions): OwnerState & {
  budget: { bytes: number };
  /** The inbox's policy, read synchronously (for MemoryStore's `policyOf`). */
  policyOf: (inbox: string) => string | null;
} {
  const now = options.now ?? Date.now;
  const budget = new Budget(options.maxBytes);
  const tokens = new MemoryTokens(budget, now);
  const once = new MemoryOnce(budget, now);
  // Expired tokens and marks, a slice per turn (a single-use mark per signed
  // POST: a sweep in one go over hundreds of thousands held every client).
  const sweeping = new SlicedPass(
    function* () {
      yield* tokens.sweepSteps(now);
      yield* once.sweepSteps(now);
    },
    SWEEP_UNITS,
    options.onSweepError ?? (() => {}),
  );
  const timer = setInterval(() => sweeping.start(), options.sweepMs ?? 10_000);
  timer.unref();
  const blobs = new MemoryBlobs(budget);
  return {
    tokens,
    once,
    prekeys: new MemoryPrekeys(budget),
    blobs,
    budget,
    policyOf: (inbox) => blobs.peek(inbox, 'policy'),
    close: async () => {
      clearInterval(timer);
      sweeping.stop();
    },
  };
}
