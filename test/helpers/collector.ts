/**
 * An owner for fault tests. In ack mode it counts every envelope by id (so
 * duplicates are visible) and acknowledges each at once; in legacy mode it
 * counts every frame by its body (legacy frames carry no id: tests post
 * unique bodies). When its socket drops it reconnects to the next URL of its
 * list (another relay) until stopped.
 */
import type { OwnerKeys } from '../../src/client/keys.js';
import { authedSocket, type TestSocket } from './socket.js';

export class AckCollector {
  /** id -> times received. */
  readonly counts = new Map<string, number>();
  /** id -> body. */
  readonly bodies = new Map<string, string>();
  private stopped = false;
  /** Legacy fault tests: the first session reads nothing until `release()`. */
  private held: { pause(): void; resume(): void } | null = null;
  private holdFirst: boolean;
  private current: TestSocket | null = null;
  private turn = 0;
  private readonly running: Promise<void>;

  constructor(
    private readonly wsUrls: () => string[],
    private readonly keys: OwnerKeys,
    readonly mode: 'ack' | 'legacy' = 'ack',
    { holdFirstSession = false }: { holdFirstSession?: boolean } = {},
  ) {
    this.holdFirst = holdFirstSession;
    this.running = this.loop();
  }

  /** Lets the held first session read again. */
  release(): void {
    this.holdFirst = false;
    this.held?.resume();
  }

  /** Whether the message that was answered with `id` arrived with `body`. */
  received(id: string, body: string): boolean {
    return this.mode === 'ack' ? this.bodies.get(id) === body : this.counts.has(body);
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
    const ack = this.mode === 'ack';
    const s = await authedSocket(url, this.keys, { ack });
    this.current = s;
    if (this.holdFirst) {
      this.held = (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      this.held.pause();
      this.holdFirst = false;
    }
    if (this.stopped) s.ws.close(); // stopped during the handshake
    s.listen((f) => {
      const env = ack
        ? (JSON.parse(f.text) as { id: string; data: string })
        : { id: f.text, data: f.text };
      this.counts.set(env.id, (this.counts.get(env.id) ?? 0) + 1);
      this.bodies.set(env.id, env.data);
      if (ack && s.ws.readyState === s.ws.OPEN) s.send({ ack: [env.id] });
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
