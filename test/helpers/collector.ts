/**
 * An ack-mode owner for fault tests: counts every envelope by id (so
 * duplicates are visible), acknowledges each at once, and when its socket
 * drops reconnects to the next URL of its list (another relay) until stopped.
 */
import type { OwnerKeys } from '../../src/client/keys.js';
import { authedSocket, type TestSocket } from './socket.js';

export class AckCollector {
  /** id -> times received. */
  readonly counts = new Map<string, number>();
  /** id -> body. */
  readonly bodies = new Map<string, string>();
  private stopped = false;
  private current: TestSocket | null = null;
  private turn = 0;
  private readonly running: Promise<void>;

  constructor(
    private readonly wsUrls: () => string[],
    private readonly keys: OwnerKeys,
  ) {
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const urls = this.wsUrls();
      const url = urls[this.turn++ % urls.length]!;
      try {
        await this.session(url);
      } catch {
        // refused or dropped: try the next relay shortly
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async session(url: string): Promise<void> {
    const s = await authedSocket(url, this.keys, { ack: true });
    this.current = s;
    if (this.stopped) s.ws.close(); // stopped during the handshake
    s.listen((f) => {
      const env = JSON.parse(f.text) as { id: string; data: string };
      this.counts.set(env.id, (this.counts.get(env.id) ?? 0) + 1);
      this.bodies.set(env.id, env.data);
      if (s.ws.readyState === s.ws.OPEN) s.send({ ack: [env.id] });
    });
    await s.closed;
  }

  /** Ids received more than once (allowed: at-least-once; the client deduplicates). */
  get duplicates(): number {
    return [...this.counts.values()].filter((n) => n > 1).length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.ws.close();
    await this.running;
  }
}
