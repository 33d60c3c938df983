/**
 * Message ids: decimal strings of an integer that increases with every call.
 * It starts from the clock in microseconds, so ids keep increasing across
 * restarts of the process (as long as fewer than a million are made a second).
 */
export class MessageIds {
  private last = 0;

  /** Makes every later id larger than `id` (ids loaded from a persist file). */
  advance(id: string): void {
    this.last = Math.max(this.last, Number(id));
  }

  next(): string {
    this.last = Math.max(this.last + 1, Date.now() * 1000);
    return String(this.last);
  }
}
