/**
 * Runs one statement for many callers: calls made while the previous run is in flight wait and go
 * together in the next. Alone (an event now and then) a call runs at the end of this turn of the
 * event loop (setImmediate), with whatever other calls the same turn made; under a burst, the
 * deliveries in flight share each statement instead of paying one round trip — and the database's
 * per-statement cost — each. A failed run fails every call in it, as that many separate
 * statements would have failed with the database away.
 */
export class Coalescer<I, O> {
  private waiting: { input: I; resolve: (output: O) => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly run: (inputs: I[]) => Promise<O[]>,
    private readonly maxBatch = 500,
  ) {}

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ input, resolve, reject });
      if (!this.running) {
        // Started after this turn of the event loop: the calls its I/O callbacks make (jobs
        // fetched together, answers read together) go in one run rather than one alone, then the rest.
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      try {
        const outputs = await this.run(batch.map((b) => b.input));
        batch.forEach((b, i) => b.resolve(outputs[i]!));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.running = false;
  }
}
