/**
 * Work over a whole collection (every socket, every stored inbox) that never
 * holds the event loop for long. The work is a generator that does one small
 * step per `next()` and yields the step's cost in units (one socket pinged,
 * one inbox looked at, one message dropped); a pass runs `units` of it per
 * turn of the event loop, then lets I/O in (setImmediate) and goes on.
 *
 * Iterating a Map or a Set inside the generator is safe across turns: an
 * entry deleted before the iterator reaches it is skipped, and one added
 * meanwhile is visited.
 */
/**
 * Work per turn of the event loop for the periodic sweeps of the memory
 * engine (the message store's, the owner state's): an inbox looked at, a
 * message, key, token or mark checked.
 */
export const SWEEP_UNITS = 2048;

export class SlicedPass {
  private running: Iterator<number> | null = null;
  private immediate: NodeJS.Immediate | null = null;

  /**
   * @param steps a new pass's work
   * @param units work per turn of the event loop
   * @param onError told when a step throws (the pass then ends)
   */
  constructor(
    private readonly steps: () => Iterator<number>,
    private readonly units: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** A pass is under way. */
  get active(): boolean {
    return this.running !== null;
  }

  /**
   * Starts a pass, its first slice now. While one is under way this does
   * nothing: the pass under way goes on to the end, and a second one right
   * behind it would find nothing the first did not.
   */
  start(): void {
    if (this.running) return;
    this.running = this.steps();
    this.slice();
  }

  /** Ends the pass under way, if any, where it is. */
  stop(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    this.running = null;
  }

  private readonly slice = (): void => {
    this.immediate = null;
    const steps = this.running;
    if (!steps) return;
    let spent = 0;
    try {
      while (spent < this.units) {
        const step = steps.next();
        if (step.done) {
          this.running = null;
          return;
        }
        spent += step.value;
        if (this.running !== steps) return; // stopped by the step itself
      }
    } catch (err) {
      this.running = null;
      this.onError(err);
      return;
    }
    this.immediate = setImmediate(this.slice);
  };
}

/** Runs a generator's steps to the end at once; its return value. */
export function runToEnd<R>(steps: Iterator<number, R>): R {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
