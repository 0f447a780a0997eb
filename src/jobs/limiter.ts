/**
 * At most `max` tasks at once; the rest wait their turn in order. Used where one job runs many
 * pieces of work (an event batch's POSTs), so a process keeps the in-flight count its concurrency
 * setting promises however the work is packed into jobs.
 */
export class Limiter {
  private running = 0;
  // A queue read from `head`: thousands may wait (a relayed burst), and Array#shift is O(n).
  private waiting: (() => void)[] = [];
  private head = 0;

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release() {
    // The slot passes straight to the next waiter, so a newcomer cannot take it in between.
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head++]!;
      // Drop the called ones now and then, so a queue that never empties does not keep them all.
      if (this.head === this.waiting.length || this.head >= 1024) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next();
    } else {
      this.running--;
    }
  }
}
